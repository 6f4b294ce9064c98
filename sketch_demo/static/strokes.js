// Stroke capture and stroke-3 geometry of the demo page (no dependencies).
//
// A drawing is a list of strokes, each a list of [x, y] canvas points. The models read stroke-3
// sketches in Quick, Draw! units: rows [dx, dy, pen_lift] (offsets from the previous point, the
// first from the origin; pen_lift 1 on the last point of a stroke). `toStroke3` prepares a
// drawing as the Quick, Draw! data was prepared: aligned to the top-left corner, scaled
// uniformly to the range 0-255, each stroke simplified with Ramer-Douglas-Peucker (epsilon 2.0),
// coordinates rounded to integers.

export const QUICKDRAW_SIZE = 255;
export const RDP_EPSILON = 2.0;

function distanceToSegment(point, start, end) {
  const dx = end[0] - start[0];
  const dy = end[1] - start[1];
  const squared = dx * dx + dy * dy;
  if (squared === 0) return Math.hypot(point[0] - start[0], point[1] - start[1]);
  const t = Math.max(0, Math.min(1, ((point[0] - start[0]) * dx + (point[1] - start[1]) * dy) / squared));
  return Math.hypot(point[0] - start[0] - t * dx, point[1] - start[1] - t * dy);
}

// Ramer-Douglas-Peucker: the points of `points` ([x, y] list) that keep the polyline within
// `epsilon` of the original (first and last always kept).
export function rdp(points, epsilon) {
  if (points.length < 3) return points.slice();
  const keep = new Array(points.length).fill(false);
  keep[0] = keep[points.length - 1] = true;
  const stack = [[0, points.length - 1]];
  while (stack.length) {
    const [first, last] = stack.pop();
    let farthest = -1;
    let distance = epsilon;
    for (let i = first + 1; i < last; i++) {
      const d = distanceToSegment(points[i], points[first], points[last]);
      if (d > distance) { distance = d; farthest = i; }
    }
    if (farthest >= 0) {
      keep[farthest] = true;
      stack.push([first, farthest], [farthest, last]);
    }
  }
  return points.filter((_, i) => keep[i]);
}

function dropRepeats(points) {
  return points.filter((p, i) => i === 0 || p[0] !== points[i - 1][0] || p[1] !== points[i - 1][1]);
}

// A drawing (strokes of canvas points) as stroke-3 rows in Quick, Draw! units, with at most
// `maxPoints` rows: the RDP epsilon grows from 2.0 until the sketch fits (a drawing that still
// does not fit keeps its first `maxPoints` rows).
export function toStroke3(strokes, maxPoints) {
  const all = strokes.flat();
  if (!all.length) return [];
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const extent = Math.max(Math.max(...xs) - minX, Math.max(...ys) - minY);
  const scale = extent > 0 ? QUICKDRAW_SIZE / extent : 1;
  const scaled = strokes.filter((s) => s.length).map(
    (stroke) => stroke.map((p) => [(p[0] - minX) * scale, (p[1] - minY) * scale]));
  let rows = [];
  for (let epsilon = RDP_EPSILON; ; epsilon *= 1.5) {
    rows = [];
    let previous = [0, 0];
    for (const stroke of scaled) {
      const simple = dropRepeats(rdp(stroke, epsilon).map((p) => [Math.round(p[0]), Math.round(p[1])]));
      simple.forEach((p, i) => {
        rows.push([p[0] - previous[0], p[1] - previous[1], i === simple.length - 1 ? 1 : 0]);
        previous = p;
      });
    }
    if (rows.length <= maxPoints || epsilon > QUICKDRAW_SIZE) break;
  }
  return rows.slice(0, maxPoints);
}

// Stroke-3 rows -> polylines of absolute points (one per stroke).
export function polylines(rows) {
  const lines = [];
  let current = [];
  let x = 0;
  let y = 0;
  for (const [dx, dy, lift] of rows) {
    x += dx;
    y += dy;
    current.push([x, y]);
    if (lift === 1) { lines.push(current); current = []; }
  }
  if (current.length) lines.push(current);
  return lines;
}

function bounds(lineGroups) {
  const points = lineGroups.flat(2);
  if (!points.length) return { minX: 0, minY: 0, size: 1 };
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  return { minX, minY, size: Math.max(Math.max(...xs) - minX, Math.max(...ys) - minY, 1) };
}

// SVG markup of stroke-3 sketches drawn on top of each other: `layers` is a list of
// {rows, color, start} (start: the absolute point the rows continue from, default [0, 0]).
export function svgMarkup(layers, size = 200) {
  const groups = layers.map((layer) => {
    const [sx, sy] = layer.start || [0, 0];
    return polylines(layer.rows).map((line) => line.map((p) => [p[0] + sx, p[1] + sy]));
  });
  const box = bounds(groups);
  const margin = 8;
  const scale = (size - 2 * margin) / box.size;
  const paths = groups.map((lines, i) => lines.map((line) => {
    const d = line.map((p, j) => `${j ? "L" : "M"}${((p[0] - box.minX) * scale + margin).toFixed(1)} ${((p[1] - box.minY) * scale + margin).toFixed(1)}`).join(" ");
    const dot = line.length === 1 ? " l0.01 0" : "";
    return `<path d="${d}${dot}" stroke="${layers[i].color || "#111"}" />`;
  }).join("")).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" width="${size}" height="${size}">` +
    `<rect width="100%" height="100%" fill="white"/><g fill="none" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round">${paths}</g></svg>`;
}

// A seeded generator of standard normal numbers (mulberry32 + Box-Muller).
export function gaussian(seed) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

// The stroke-reorganisation task's input (as sketchgloc_tf2.strokes.reorganise): every stroke
// but the first moved rigidly by isotropic Gaussian noise of standard deviation
// reScale * (larger side of the sketch's origin-inclusive bounding box).
export function reorganise(rows, reScale, normal) {
  if (reScale <= 0 || rows.length < 2) return rows.map((r) => r.slice());
  let x = 0;
  let y = 0;
  const absolute = rows.map(([dx, dy]) => [(x += dx), (y += dy)]);
  const visited = [[0, 0], ...absolute];
  const bound = Math.max(
    Math.max(...visited.map((p) => p[0])) - Math.min(...visited.map((p) => p[0])),
    Math.max(...visited.map((p) => p[1])) - Math.min(...visited.map((p) => p[1])));
  let stroke = 0;
  let shift = [0, 0];
  const moved = absolute.map((p, i) => {
    if (i > 0 && rows[i - 1][2] === 1) {
      stroke += 1;
      shift = [normal() * reScale * bound, normal() * reScale * bound];
    }
    return stroke ? [p[0] + shift[0], p[1] + shift[1]] : p;
  });
  let previous = [0, 0];
  return moved.map((p, i) => {
    const row = [p[0] - previous[0], p[1] - previous[1], rows[i][2]];
    previous = p;
    return row;
  });
}
