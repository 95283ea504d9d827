// TaoCache on the canvas: after a run, the TaoCache node shows on itself what it did.
//
//   computed 13 / skipped 7 of 20 model calls (call ratio 1.54x)   <- the log's sentence, as received
//   [strip: one cell per sampling step]
//   ■ computed  ■ skipped  ■ outside window      (or, under the pointer: step, sigma, r, c)
//
// Cells: computed in the late window (blue), skipped (green), outside the window (grey): CELL_COLOURS,
// which tools/demo.py reads from this file for its plot. The headline is the sentence of the backend's
// summary (taocache/report.py writes it once, for the log and for this panel); the rest of the summary
// follows under the strip: why nothing was skipped (amber), a calibration profile's plan, an early stop.
// The panel stays until the node's next run (dimmed while a new run is on its way). Data comes from the
// backend's "taocache.report" websocket event; no network calls of its own. Text from the backend goes
// into the page as textContent, never as HTML.
//
// The panel is a DOM widget (node.addDOMWidget, the frontend's supported widget API: the classic canvas
// lays it over the node, the Vue node renderer ("Nodes 2.0") mounts it inside the node). It is never
// serialized: saved workflows and prompts keep exactly the node's widget values. Only TaoCache nodes
// are touched: the panel is added to them, and on them the frontend's plain progress-text box (the same
// summary, sent for UIs without this extension) is removed because the panel replaces it.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE_TYPE = "TaoCache";
const WIDGET_NAME = "taocache_report";
const TEXT_PREVIEW_WIDGET = "$$node-text-preview"; // the frontend's progress-text box
const SUMMARY_PREFIX = "TaoCache: "; // the log's tag before the sentence; the node's title says it already
// the cell colours, one line: tools/demo.py reads this line (tests/comfy/test_wording.py holds them together)
export const CELL_COLOURS = { computed: "#3d7be0", skipped: "#2fbf6a", outside: "#5c5c5c" };
const COLOURS = {
  ...CELL_COLOURS,
  text: "#e6e6e6",
  dim: "#a8a8a8",
  note: "#e0b040",
  panel: "rgba(0, 0, 0, 0.28)",
  hover: "#ffffff",
};
const LEGEND = [["computed", "computed"], ["skipped", "skipped"], ["outside", "outside window"]];
// layout in canvas pixels; the panel's height is computed from these (the classic canvas needs it
// before the element is shown), so every row has a fixed line height
export const MARGIN = 10; // the DOM widget's margin inside the node (also the Compare panel's)
const PAD = 8;
const HEAD_LINE = 16; // one line of the headline
const STRIP = 18;
const GAP = 4;
const FOOT = 16; // legend / hover row
const NOTE_LINE = 14; // one line of the note
const MAX_NOTE_LINES = 4;
const FONT_HEAD = "12px sans-serif";
const FONT_SMALL = "11px sans-serif";

// ---- data -------------------------------------------------------------------------------------

// One cell per schedule step, from the report's per-call rows.
export function stepCells(report) {
  const steps = Math.max(Number(report.steps) || 0, 1);
  const cells = [];
  for (let i = 0; i < steps; i++) {
    const sigma = report.schedule_sigmas?.[i];
    cells.push({ step: i, state: "outside", sigma: typeof sigma === "number" ? sigma : null, r: null, c: null, calls: 0, heldBy: [] });
  }
  for (const call of report.calls ?? []) {
    const index = Math.min(Math.max(Math.floor(Number(call.step) + 1e-6), 0), cells.length - 1);
    const cell = cells[index];
    if (cell.calls === 0 && typeof call.sigma === "number") cell.sigma = call.sigma;
    cell.calls += 1;
    if (call.r !== null && call.r !== undefined) {
      cell.r = call.r;
      cell.c = call.c;
    }
    for (const name of (call.held_by ?? []).map(String)) if (!cell.heldBy.includes(name)) cell.heldBy.push(name);
    if (call.skipped) {
      if (cell.state !== "computed") cell.state = "skipped";
    } else if (call.in_window) {
      cell.state = "computed";
    }
  }
  return cells;
}

// The summary is "TaoCache: <sentence>" and, after "; ", what else it says (why nothing was skipped,
// a profile's plan, an early stop). The node shows the sentence as received.
export function splitSummary(summary) {
  let text = String(summary ?? "");
  if (text.startsWith(SUMMARY_PREFIX)) text = text.slice(SUMMARY_PREFIX.length);
  const cut = text.indexOf("; ");
  return cut < 0 ? { sentence: text.trim(), detail: "" } : { sentence: text.slice(0, cut).trim(), detail: text.slice(cut + 2).trim() };
}

export function describeCell(cell, steps) {
  const parts = [`step ${cell.step + 1}/${steps}`, cell.state === "outside" ? "outside window" : cell.state];
  if (cell.sigma !== null) parts.push(`\u03c3 ${cell.sigma.toFixed(4)}`);
  if (cell.r !== null && cell.r !== undefined) parts.push(`r ${cell.r.toFixed(3)}`, `c ${cell.c.toFixed(3)}`);
  if (cell.heldBy?.length) parts.push(`gate failed on ${cell.heldBy.join(", ")}`);
  return parts.join(" \u00b7 ");
}

function makeInfo(report, previous) {
  const { sentence, detail } = splitSummary(report.summary);
  return {
    computed: report.computed,
    skipped: report.skipped,
    total: report.total,
    steps: report.steps,
    sentence,
    detail,
    summary: report.summary,
    cells: stepCells(report),
    runs: (previous && !previous.stale ? previous.runs : 0) + 1, // sampling runs in this prompt
    stale: false,
    hover: null,
    hoverText: null,
  };
}

// ---- measuring (canvas text metrics: the same fonts the panel uses) ---------------------------------

let measureCtx = null;
function measure(font, text) {
  measureCtx ??= document.createElement("canvas").getContext("2d");
  measureCtx.font = font;
  return measureCtx.measureText(text).width;
}

// lines of `text` wrapped at spaces into `width`; words: the pieces that never break (default: its words)
function lineCount(font, text, width, words = null) {
  if (!text) return 0;
  let lines = 1;
  let line = "";
  for (const word of words ?? text.split(/\s+/)) {
    const next = line ? `${line} ${word}` : word;
    if (line && measure(font, next) > width) {
      lines += 1;
      line = word;
    } else {
      line = next;
    }
  }
  return lines;
}

// the panel's height for a widget of this width (the text wraps inside width - 2 * (MARGIN + PAD))
function panelHeight(info, widgetWidth) {
  if (!info) return 0;
  const inner = Math.max(widgetWidth - 2 * (MARGIN + PAD), 40) - 2; // 2 px spare for rounding
  const head = Math.max(lineCount(FONT_HEAD, headlineText(info), inner, headlineWords(info)), 1);
  const note = Math.min(lineCount(FONT_SMALL, info.detail, inner), MAX_NOTE_LINES);
  return PAD + head * HEAD_LINE + GAP + STRIP + GAP + FOOT + note * NOTE_LINE + PAD;
}

function headlineText(info) {
  return info.runs > 1 ? `${info.sentence} run ${info.runs}` : info.sentence;
}

// The sentence's closing parenthesis (the call ratio) stays on one line.
function sentenceParts(sentence) {
  const cut = sentence.lastIndexOf(" (");
  return cut < 0 ? [sentence, ""] : [sentence.slice(0, cut), sentence.slice(cut + 1)];
}

function headlineWords(info) {
  const [text, tail] = sentenceParts(info.sentence);
  const words = text.split(/\s+/).filter(Boolean);
  if (tail) words.push(tail);
  if (info.runs > 1) words.push(`run ${info.runs}`);
  return words;
}

// ---- the panel element ---------------------------------------------------------------------------------

function el(tag, className, style = {}) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  Object.assign(element.style, style);
  return element;
}

// The element and its parts; filled by render(). Nothing here is HTML from the backend. The widget's
// element (the frontend shows, hides and places it) holds the panel, which stays hidden until a report.
function createPanel() {
  const element = el("div", "taocache-report");
  const root = el("div", "taocache-panel", {
    display: "none", boxSizing: "border-box", padding: `${PAD}px`, borderRadius: "6px", background: COLOURS.panel,
    color: COLOURS.text, font: FONT_SMALL, overflow: "hidden", userSelect: "none", minWidth: "0",
  });
  element.append(root);
  const head = el("div", "taocache-headline", { font: FONT_HEAD, lineHeight: `${HEAD_LINE}px` });
  const sentence = el("span", "taocache-sentence");
  const runs = el("span", "taocache-runs", { color: COLOURS.dim, marginLeft: "6px" });
  head.append(sentence, runs);
  const strip = el("div", "taocache-strip", { display: "flex", height: `${STRIP}px`, marginTop: `${GAP}px` });
  const foot = el("div", "taocache-foot", {
    height: `${FOOT}px`, lineHeight: `${FOOT}px`, marginTop: `${GAP}px`, whiteSpace: "nowrap", overflow: "hidden",
    textOverflow: "ellipsis",
  });
  const note = el("div", "taocache-note", {
    lineHeight: `${NOTE_LINE}px`, maxHeight: `${MAX_NOTE_LINES * NOTE_LINE}px`, overflow: "hidden",
    overflowWrap: "anywhere",
  });
  root.append(head, strip, foot, note);
  return { element, root, sentence, runs, strip, foot, note };
}

function renderLegend(foot) {
  foot.replaceChildren();
  foot.style.color = COLOURS.dim;
  for (const [state, label] of LEGEND) {
    const item = el("span", "taocache-legend", { marginRight: "10px" });
    const swatch = el("span", "", {
      display: "inline-block", width: "8px", height: "8px", marginRight: "3px", background: COLOURS[state],
    });
    item.append(swatch, document.createTextNode(label));
    foot.append(item);
  }
}

function renderFoot(panel, info) {
  if (info.hoverText) {
    panel.foot.style.color = COLOURS.hover;
    panel.foot.textContent = info.hoverText;
  } else {
    renderLegend(panel.foot);
  }
}

function render(node) {
  const panel = node.taocachePanel;
  const info = node.taocache;
  if (!panel || !info) return;
  panel.root.style.display = "block";
  panel.root.style.opacity = info.stale ? "0.45" : "1";
  const [text, tail] = sentenceParts(info.sentence);
  panel.sentence.replaceChildren(document.createTextNode(tail ? `${text} ` : text));
  if (tail) {
    const ratio = el("span", "taocache-ratio", { whiteSpace: "nowrap" });
    ratio.textContent = tail;
    panel.sentence.append(ratio);
  }
  panel.runs.textContent = info.runs > 1 ? `run ${info.runs}` : "";
  panel.sentence.style.color = COLOURS.text;
  const n = Math.max(info.cells.length, 1);
  const cells = info.cells.map((cell) => {
    const box = el("div", "taocache-cell", {
      flex: "1 1 0", minWidth: "1px", height: "100%", background: COLOURS[cell.state],
      marginRight: n <= 60 ? "1px" : "0", boxSizing: "border-box",
    });
    box.dataset.step = String(cell.step);
    box.dataset.state = cell.state;
    box.addEventListener("pointerenter", () => setHover(node, cell));
    return box;
  });
  panel.strip.replaceChildren(...cells);
  renderFoot(panel, info);
  panel.note.textContent = info.detail;
  panel.note.title = info.detail; // the panel shows at most MAX_NOTE_LINES lines: the pointer shows all
  panel.note.style.color = info.skipped > 0 ? COLOURS.dim : COLOURS.note;
}

function setHover(node, cell) {
  const info = node.taocache;
  if (!info || info.stale || info.hover === cell) return;
  info.hover = cell;
  info.hoverText = cell ? describeCell(cell, info.steps) : null;
  const panel = node.taocachePanel;
  for (const box of panel?.strip.children ?? []) {
    box.style.outline = cell && box.dataset.step === String(cell.step) ? `1.5px solid ${COLOURS.hover}` : "";
  }
  if (panel) renderFoot(panel, info);
}

// ---- the widget --------------------------------------------------------------------------------------

function ensureWidget(node) {
  const existing = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (existing) return existing;
  const panel = createPanel();
  node.taocachePanel = panel;
  panel.strip.addEventListener("pointerleave", () => setHover(node, null));
  const height = () => (node.taocache ? panelHeight(node.taocache, node.size[0]) + 2 * MARGIN : 0);
  return addPanelWidget(node, WIDGET_NAME, "taocache_report", panel.element, height);
}

// A DOM widget that shows `element` at the height `height()` asks for and is never saved (shared with
// the Compare node's extension).
export function addPanelWidget(node, name, type, element, height) {
  const widget = node.addDOMWidget(name, type, element, {
    serialize: false,
    hideInPanel: true, // not an input: the newest frontend's Parameters panel would list it by its name
    margin: MARGIN,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: height,
    getMaxHeight: height,
  });
  widget.serialize = false; // not in the saved workflow's widgets_values
  return widget;
}

// The frontend's plain progress-text box: our panels replace it on our nodes.
export function removeTextPreview(node) {
  const widget = node.widgets?.find((w) => w.name === TEXT_PREVIEW_WIDGET);
  if (!widget) return;
  if (node.removeWidget) node.removeWidget(widget);
  else node.widgets.splice(node.widgets.indexOf(widget), 1);
}

// The node's height follows its content (the panel's note changes from run to run); its width stays.
function fitHeight(node) {
  const min = node.computeSize?.();
  if (!min) return;
  if (node.size[1] !== min[1] || node.size[0] < min[0]) node.setSize([Math.max(node.size[0], min[0]), min[1]]);
}

export function showReport(node, report) {
  node.taocache = makeInfo(report, node.taocache);
  removeTextPreview(node);
  ensureWidget(node);
  render(node);
  fitHeight(node);
  node.setDirtyCanvas?.(true, true);
}

// ---- finding the node ------------------------------------------------------------------------------

// The backend reports the node's execution id: "12", or "5:12" for a node inside a subgraph.
function findNode(executionId) {
  let graph = app.rootGraph ?? app.graph;
  let node = null;
  for (const part of String(executionId).split(":")) {
    if (!graph) return null;
    node = graph.getNodeById?.(Number(part)) ?? graph.getNodeById?.(part) ?? null;
    if (!node) return null;
    graph = node.subgraph;
  }
  return node;
}

function* taoCacheNodes(graph, seen = new Set()) {
  if (!graph || seen.has(graph)) return;
  seen.add(graph);
  for (const node of graph._nodes ?? graph.nodes ?? []) {
    if (node.comfyClass === NODE_TYPE) yield node;
    if (node.subgraph) yield* taoCacheNodes(node.subgraph, seen);
  }
}

// Registers an extension unless one of that name is already registered. With the pack installed in two
// folders (see nodes/installs.py) the frontend loads both copies' files, and its registerExtension
// throws on the second name; the server log and every run's summary name both folders.
export function registerOnce(extension) {
  if ((app.extensions ?? []).some((registered) => registered.name === extension.name)) {
    console.warn(`TaoCache: the extension ${extension.name} is already registered (TaoCache is installed twice; ` +
      `the server log names both folders): this copy's is not loaded`);
    return;
  }
  app.registerExtension(extension);
}

registerOnce({
  name: "taocache.report",
  // The panel's widget comes with the node (empty, no height, hidden until the first report): the Vue
  // node renderer of older frontends (1.32) shows only the widgets a node had when it was mounted.
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE_TYPE) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      ensureWidget(this);
      return result;
    };
  },
  setup() {
    // Reports are broadcast to every open page; take them only while a prompt of this page runs
    // (ComfyUI sends execution_start and the end of a prompt to the client that queued it).
    let running = false;
    for (const event of ["execution_success", "execution_error", "execution_interrupted"]) {
      api.addEventListener(event, () => {
        running = false;
      });
    }
    // a run of this page starts: earlier panels are kept, dimmed, until their node reports again
    api.addEventListener("execution_start", () => {
      running = true;
      for (const node of taoCacheNodes(app.rootGraph ?? app.graph)) {
        if (node.taocache && !node.taocache.stale) {
          node.taocache.stale = true;
          node.taocache.hover = null;
          node.taocache.hoverText = null;
          render(node);
        }
      }
    });
    api.addEventListener("taocache.report", ({ detail }) => {
      if (!running || !detail || detail.node === undefined) return;
      const node = findNode(detail.node);
      if (node && node.comfyClass === NODE_TYPE) showReport(node, detail);
    });
  },
});
