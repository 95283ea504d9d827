// TaoCache on the canvas: after a run, the TaoCache node shows on itself what it did.
//
//   computed 13 · skipped 7 of 20 calls            1.54x
//   [strip: one cell per sampling step]
//   ■ computed  ■ skipped  ■ outside window      (or, under the pointer: step, sigma, r, c)
//
// Cells: computed in the late window (blue), skipped (green), outside the window (grey). The rest of the
// summary follows: why nothing was skipped (amber), a calibration profile's plan, an early stop. The
// panel stays until the node's next run (dimmed while a new run is on its way). Data comes from the
// backend's "taocache.report" websocket event; no network calls of its own.
//
// The panel is a canvas widget that is never serialized (saved workflows and prompts keep exactly the
// node's widget values). Only TaoCache nodes are touched: the panel is added to them, and on them the
// frontend's plain progress-text box (the same summary, sent for UIs without this extension) is removed
// because the panel replaces it (kept with the opt-in "Nodes 2.0" renderer, which does not draw the panel).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE_TYPE = "TaoCache";
const WIDGET_NAME = "taocache_report";
const TEXT_PREVIEW_WIDGET = "$$node-text-preview"; // the frontend's progress-text box
const MARGIN = 15;
const PAD = 8;
const ROW = 18; // headline row
const STRIP = 18; // strip height
const FOOT = 16; // legend / hover row
const NOTE_LINE = 14; // one line of the "why nothing was skipped" note
const MAX_NOTE_LINES = 4;
const BOTTOM = 8; // space under the panel, inside the node
const COLOURS = {
  computed: "#3d7be0",
  skipped: "#2fbf6a",
  outside: "#5c5c5c",
  text: "#e6e6e6",
  dim: "#a8a8a8",
  note: "#e0b040",
  panel: "rgba(0, 0, 0, 0.28)",
  hover: "#ffffff",
};
const LEGEND = [["computed", "computed"], ["skipped", "skipped"], ["outside", "outside window"]];

// ---- data -------------------------------------------------------------------------------------

// One cell per schedule step, from the report's per-call rows.
export function stepCells(report) {
  const steps = Math.max(Number(report.steps) || 0, 1);
  const cells = [];
  for (let i = 0; i < steps; i++) {
    const sigma = report.schedule_sigmas?.[i];
    cells.push({ step: i, state: "outside", sigma: typeof sigma === "number" ? sigma : null, r: null, c: null, calls: 0 });
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
    if (call.skipped) {
      if (cell.state !== "computed") cell.state = "skipped";
    } else if (call.in_window) {
      cell.state = "computed";
    }
  }
  return cells;
}

// What the summary says beyond the counts: why nothing was skipped, a profile's plan, an early stop.
function detailOf(report) {
  const summary = String(report.summary ?? "");
  const end = summary.indexOf("speedup)");
  return end < 0 ? "" : summary.slice(end + "speedup)".length).replace(/^[;\s]+/, "").trim();
}

export function describeCell(cell, steps) {
  const parts = [`step ${cell.step + 1}/${steps}`, cell.state === "outside" ? "outside window" : cell.state];
  if (cell.sigma !== null) parts.push(`\u03c3 ${cell.sigma.toFixed(4)}`);
  if (cell.r !== null && cell.r !== undefined) parts.push(`r ${cell.r.toFixed(3)}`, `c ${cell.c.toFixed(3)}`);
  return parts.join(" \u00b7 ");
}

function makeInfo(report, previous) {
  const speedup = Number(report.speedup) || 1;
  return {
    computed: report.computed,
    skipped: report.skipped,
    total: report.total,
    steps: report.steps,
    speedup,
    headline: `computed ${report.computed} \u00b7 skipped ${report.skipped} of ${report.total} calls`,
    speedupText: `${speedup.toFixed(2)}x`,
    detail: detailOf(report),
    summary: report.summary,
    cells: stepCells(report),
    runs: (previous && !previous.stale ? previous.runs : 0) + 1, // sampling runs in this prompt
    stale: false,
    hover: null,
    hoverText: null,
    layout: null,
  };
}

// ---- layout and drawing ---------------------------------------------------------------------------

let measureCtx = null;
function measure(font, text) {
  measureCtx ??= document.createElement("canvas").getContext("2d");
  measureCtx.font = font;
  return measureCtx.measureText(text).width;
}

function wrap(font, text, width) {
  if (!text) return [];
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    const next = line ? `${line} ${word}` : word;
    if (line && measure(font, next) > width) {
      lines.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  if (lines.length > MAX_NOTE_LINES) {
    lines.length = MAX_NOTE_LINES;
    lines[MAX_NOTE_LINES - 1] += " \u2026";
  }
  return lines;
}

const FONT_HEAD = "bold 12px sans-serif";
const FONT_SPEED = "bold 14px sans-serif";
const FONT_SMALL = "11px sans-serif";

// the note's lines for a widget of this width
function noteLines(info, widgetWidth) {
  return wrap(FONT_SMALL, info.detail, Math.max(widgetWidth - 2 * MARGIN, 40) - 2 * PAD);
}

function panelHeight(info, width) {
  if (!info) return 0;
  return PAD + ROW + 4 + STRIP + 4 + FOOT + noteLines(info, width).length * NOTE_LINE + PAD / 2;
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  if (ctx.roundRect) ctx.roundRect(x, y, w, h, r);
  else ctx.rect(x, y, w, h);
}

function drawPanel(ctx, node, widgetWidth, y) {
  const info = node.taocache;
  if (!info) return;
  const x = MARGIN;
  const w = Math.max(widgetWidth - 2 * MARGIN, 40);
  const h = panelHeight(info, widgetWidth);
  ctx.save();
  if (info.stale) ctx.globalAlpha = 0.45;
  ctx.fillStyle = COLOURS.panel;
  roundRect(ctx, x, y, w, h, 6);
  ctx.fill();
  ctx.textBaseline = "middle";

  // headline: counts on the left, the speedup on the right
  let rowY = y + PAD + ROW / 2;
  ctx.font = FONT_SPEED;
  ctx.textAlign = "right";
  ctx.fillStyle = info.skipped > 0 ? COLOURS.skipped : COLOURS.dim;
  ctx.fillText(info.speedupText, x + w - PAD, rowY);
  const speedWidth = measure(FONT_SPEED, info.speedupText);
  ctx.textAlign = "left";
  ctx.fillStyle = COLOURS.text;
  const headline = info.runs > 1 ? `${info.headline} (run ${info.runs})` : info.headline;
  let font = FONT_HEAD;
  if (measure(font, headline) > w - 2 * PAD - speedWidth - 6) font = "bold 11px sans-serif";
  ctx.font = font;
  ctx.fillText(headline, x + PAD, rowY, w - 2 * PAD - speedWidth - 6);

  // the strip: one cell per step
  const stripX = x + PAD;
  const stripY = y + PAD + ROW + 4;
  const stripW = w - 2 * PAD;
  const n = Math.max(info.cells.length, 1);
  const cellW = stripW / n;
  const gap = cellW >= 4 ? 1 : 0;
  info.cells.forEach((cell, i) => {
    ctx.fillStyle = COLOURS[cell.state];
    ctx.fillRect(stripX + i * cellW, stripY, Math.max(cellW - gap, 1), STRIP);
  });
  if (info.hover) {
    ctx.strokeStyle = COLOURS.hover;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(stripX + info.hover.step * cellW + 0.5, stripY - 1.5, Math.max(cellW - gap, 1) - 1, STRIP + 3);
  }
  info.layout = { x: stripX, y: stripY, width: stripW, height: STRIP };

  // footer: the hovered step, or the legend
  rowY = stripY + STRIP + 4 + FOOT / 2;
  ctx.font = FONT_SMALL;
  if (info.hover) {
    ctx.fillStyle = COLOURS.hover;
    ctx.fillText(info.hoverText ?? describeCell(info.hover, info.steps), x + PAD, rowY, w - 2 * PAD);
  } else {
    let lx = x + PAD;
    for (const [state, label] of LEGEND) {
      ctx.fillStyle = COLOURS[state];
      ctx.fillRect(lx, rowY - 4, 8, 8);
      ctx.fillStyle = COLOURS.dim;
      ctx.fillText(label, lx + 11, rowY);
      lx += 11 + measure(FONT_SMALL, label) + 10;
    }
  }

  // the rest of the summary: why nothing was skipped (amber), a profile's plan, an early stop
  const lines = noteLines(info, widgetWidth);
  ctx.fillStyle = info.skipped > 0 ? COLOURS.dim : COLOURS.note;
  lines.forEach((line, i) => {
    ctx.fillText(line, x + PAD, rowY + FOOT / 2 + NOTE_LINE / 2 + 2 + i * NOTE_LINE, w - 2 * PAD);
  });
  ctx.restore();
}

function cellAt(node, pos) {
  const info = node.taocache;
  const box = info?.layout;
  if (!box || !pos) return null;
  const [px, py] = pos;
  if (px < box.x || px >= box.x + box.width || py < box.y - 2 || py > box.y + box.height + 2) return null;
  const index = Math.floor(((px - box.x) / box.width) * info.cells.length);
  return info.cells[Math.min(Math.max(index, 0), info.cells.length - 1)] ?? null;
}

function setHover(node, cell) {
  const info = node.taocache;
  if (!info || info.hover === cell) return;
  info.hover = cell;
  info.hoverText = cell ? describeCell(cell, info.steps) : null;
  node.setDirtyCanvas?.(true, false);
}

// ---- the widget --------------------------------------------------------------------------------------

function ensureWidget(node) {
  let widget = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (widget) return widget;
  widget = node.addCustomWidget({
    name: WIDGET_NAME,
    type: "taocache_report",
    value: "",
    serialize: false,
    options: { serialize: false },
    draw(ctx, drawNode, widgetWidth, y) {
      drawPanel(ctx, drawNode, widgetWidth, y);
    },
    computeSize(width) {
      return [width ?? node.size[0], panelHeight(node.taocache, width ?? node.size[0]) + BOTTOM];
    },
    mouse(event, pos, mouseNode) {
      setHover(mouseNode, cellAt(mouseNode, pos));
      return false;
    },
    serializeValue() {
      return undefined;
    },
  });
  return widget;
}

function removeTextPreview(node) {
  const index = node.widgets?.findIndex((w) => w.name === TEXT_PREVIEW_WIDGET) ?? -1;
  if (index < 0) return;
  node.widgets[index].onRemove?.();
  node.widgets.splice(index, 1);
}

// The node's height follows its content (the panel's note changes from run to run); its width stays.
function fitHeight(node) {
  const min = node.computeSize?.();
  if (!min) return;
  if (node.size[1] !== min[1] || node.size[0] < min[0]) node.setSize([Math.max(node.size[0], min[0]), min[1]]);
}

// "Nodes 2.0" (the frontend's opt-in Vue node renderer) does not draw canvas widgets added after the
// node was mounted: there the frontend's own text box stays, so the summary is still on the node.
function vueNodesEnabled() {
  try {
    return Boolean(app.extensionManager?.setting?.get?.("Comfy.VueNodes.Enabled"));
  } catch {
    return false;
  }
}

export function showReport(node, report) {
  node.taocache = makeInfo(report, node.taocache);
  if (!vueNodesEnabled()) removeTextPreview(node);
  ensureWidget(node);
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

app.registerExtension({
  name: "taocache.report",
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
          node.setDirtyCanvas?.(true, false);
        }
      }
    });
    api.addEventListener("taocache.report", ({ detail }) => {
      if (!running || !detail || detail.node === undefined) return;
      const node = findNode(detail.node);
      if (node && node.comfyClass === NODE_TYPE) showReport(node, detail);
    });
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE_TYPE) return;
    // hover works on the whole node: the pointer over a strip cell shows that step in the footer
    const onMouseMove = nodeType.prototype.onMouseMove;
    nodeType.prototype.onMouseMove = function (event, pos) {
      const result = onMouseMove?.apply(this, arguments);
      if (this.taocache) setHover(this, cellAt(this, pos));
      return result;
    };
    const onMouseLeave = nodeType.prototype.onMouseLeave;
    nodeType.prototype.onMouseLeave = function () {
      const result = onMouseLeave?.apply(this, arguments);
      if (this.taocache) setHover(this, null);
      return result;
    };
  },
});
