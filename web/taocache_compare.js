// TaoCache Compare on the canvas: the node keeps its report on itself after the run.
//
// The backend sends the report twice: as the node's progress text (ComfyUI's own text box, for UIs
// without this file) and in the node's UI output ("taocache_compare"). Newer frontends (1.5x) clear the
// progress-text box when the run ends, so this extension shows the UI output in a read-only DOM widget,
// which stays until the node runs again, and removes the progress-text box so the text is not shown
// twice. The widget is never serialized. Text from the backend goes in as textContent, never as HTML.
import { MARGIN, addPanelWidget, registerOnce, removeTextPreview } from "./taocache.js";

const NODE_TYPE = "TaoCacheCompare";
const WIDGET_NAME = "taocache_compare_report";
const OUTPUT_KEY = "taocache_compare";
const PAD = 8;
const LINE = 15;
const FONT = "12px sans-serif";

let measureCtx = null;

// The box's height for a widget of this width: every line, wrapped at the box's inner width.
function boxHeight(text, widgetWidth) {
  if (!text) return 0;
  measureCtx ??= document.createElement("canvas").getContext("2d");
  measureCtx.font = FONT;
  const inner = Math.max(widgetWidth - 2 * (MARGIN + PAD), 40);
  let lines = 0;
  for (const line of text.split("\n")) lines += Math.max(1, Math.ceil((measureCtx.measureText(line).width + 8) / inner));
  return lines * LINE + 2 * PAD;
}

// The widget comes with the node (empty, no height): the Vue node renderer of older frontends (1.32)
// shows only the widgets a node had when it was mounted.
function ensureWidget(node) {
  const existing = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (existing) return existing;
  const element = document.createElement("div");
  element.className = "taocache-compare";
  Object.assign(element.style, {
    display: "none", boxSizing: "border-box", padding: `${PAD}px`, borderRadius: "6px",
    background: "rgba(0, 0, 0, 0.28)", color: "#e6e6e6", font: FONT, lineHeight: `${LINE}px`,
    whiteSpace: "pre-wrap", overflowWrap: "anywhere", overflow: "auto", userSelect: "text",
  });
  const height = () => boxHeight(node.taocacheCompareText, node.size[0]) + (node.taocacheCompareText ? 2 * MARGIN : 0);
  return addPanelWidget(node, WIDGET_NAME, "taocache_compare_report", element, height);
}

export function showCompare(node, text) {
  node.taocacheCompareText = text;
  removeTextPreview(node);
  const widget = ensureWidget(node);
  widget.element.textContent = text;
  widget.element.style.display = "block";
  // the node grows to fit the text (setting the size also lets the Vue renderer lay the widget out)
  const min = node.computeSize?.() ?? node.size;
  node.setSize([Math.max(node.size[0], min[0]), Math.max(node.size[1], min[1])]);
  node.setDirtyCanvas?.(true, true);
}

registerOnce({
  name: "taocache.compare",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE_TYPE) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      ensureWidget(this);
      return result;
    };
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      const result = onExecuted?.apply(this, arguments);
      const lines = output?.[OUTPUT_KEY];
      if (Array.isArray(lines) && lines.length) showCompare(this, lines.map(String).join("\n"));
      return result;
    };
  },
});
