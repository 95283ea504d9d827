// TaoCache on the canvas: after a run, the TaoCache node shows what it did on itself.
// A line with the computed/skipped counts and the speedup, and a strip with one cell per sampling
// step: computed (blue), skipped (green), outside the late window (grey). Hovering a cell shows
// the step's sigma, r and c. It stays until the node's next run. No network calls; only TaoCache
// nodes are touched. Data comes from the backend's "taocache.report" websocket event.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE_TYPE = "TaoCache";
const STRIP_HEIGHT = 14;
const TEXT_HEIGHT = 16;
const PADDING = 6;
const COLOURS = { computed: "#3b6fd6", skipped: "#2fb566", outside: "#5a5a5a" };

// One cell per schedule step: the state of the calls made at that step.
export function stepCells(report) {
  const cells = [];
  for (let i = 0; i < report.steps; i++) {
    cells.push({ step: i, state: "outside", sigma: report.schedule_sigmas?.[i], r: null, c: null, calls: 0 });
  }
  for (const call of report.calls) {
    const cell = cells[Math.min(Math.floor(call.step + 1e-6), cells.length - 1)];
    if (!cell) continue;
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

function stripBox(node) {
  const width = node.size[0] - 2 * PADDING;
  const top = node.size[1] - STRIP_HEIGHT - PADDING;
  return { left: PADDING, top, width, height: STRIP_HEIGHT };
}

function cellAt(node, x, y) {
  const info = node.taocache;
  if (!info) return null;
  const box = stripBox(node);
  if (y < box.top || y > box.top + box.height || x < box.left || x > box.left + box.width) return null;
  const index = Math.floor(((x - box.left) / box.width) * info.cells.length);
  return info.cells[index] ?? null;
}

function describe(cell) {
  const stats = cell.r === null ? "" : `  r ${cell.r.toFixed(3)}  c ${cell.c.toFixed(3)}`;
  const sigma = cell.sigma === undefined ? "" : `  sigma ${cell.sigma.toFixed(4)}`;
  return `step ${cell.step + 1}: ${cell.state}${sigma}${stats}`;
}

function draw(node, ctx) {
  const info = node.taocache;
  if (!info || node.flags?.collapsed) return;
  const box = stripBox(node);
  ctx.save();
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "#ddd";
  const headline = info.hover ? describe(info.hover) : info.headline;
  ctx.fillText(headline, PADDING, box.top - 4, node.size[0] - 2 * PADDING);
  const cellWidth = box.width / Math.max(info.cells.length, 1);
  info.cells.forEach((cell, i) => {
    ctx.fillStyle = COLOURS[cell.state];
    ctx.fillRect(box.left + i * cellWidth, box.top, Math.max(cellWidth - 1, 1), box.height);
  });
  ctx.restore();
}

function show(node, report) {
  const grow = !node.taocache;
  node.taocache = {
    cells: stepCells(report),
    headline: `computed ${report.computed} / skipped ${report.skipped} of ${report.total} calls` +
      ` (${report.speedup.toFixed(2)}x)`,
    summary: report.summary,
    hover: null,
  };
  if (grow) node.setSize([node.size[0], node.size[1] + STRIP_HEIGHT + TEXT_HEIGHT + PADDING]);
  node.setDirtyCanvas(true, true);
}

app.registerExtension({
  name: "taocache.strip",
  setup() {
    api.addEventListener("taocache.report", ({ detail }) => {
      const node = app.graph?.getNodeById?.(Number(detail.node)) ?? app.graph?.getNodeById?.(detail.node);
      if (node && node.comfyClass === NODE_TYPE) show(node, detail);
    });
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE_TYPE) return;
    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      const result = onDrawForeground?.apply(this, arguments);
      draw(this, ctx);
      return result;
    };
    const onMouseMove = nodeType.prototype.onMouseMove;
    nodeType.prototype.onMouseMove = function (event, pos) {
      const result = onMouseMove?.apply(this, arguments);
      if (this.taocache) {
        const cell = cellAt(this, pos[0], pos[1]);
        if (cell !== this.taocache.hover) {
          this.taocache.hover = cell;
          this.setDirtyCanvas(true, false);
        }
      }
      return result;
    };
    const onMouseLeave = nodeType.prototype.onMouseLeave;
    nodeType.prototype.onMouseLeave = function () {
      const result = onMouseLeave?.apply(this, arguments);
      if (this.taocache?.hover) {
        this.taocache.hover = null;
        this.setDirtyCanvas(true, false);
      }
      return result;
    };
  },
});
