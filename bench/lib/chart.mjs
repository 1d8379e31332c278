// A hand-written SVG line chart, no dependencies: panels side by side, log-scale x (number of services) and
// log-scale y (milliseconds), one line per tool with min–max whiskers, a shared legend.

const COLORS = ['#1f77b4', '#2ca02c', '#d62728', '#7f7f7f', '#9467bd', '#ff7f0e'];
const DASHES = ['', '6 3', '', '2 3', '', ''];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const decades = (lo, hi) => {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
};
const tickLabel = (v, unit = '') => {
  if (unit === 'ms' && v >= 1000) return `${v / 1000} s`;
  if (v >= 1000) return `${(v / 1000).toLocaleString('en')}k`;
  return `${v}${unit ? ` ${unit}` : ''}`;
};

/**
 * @param {{ title: string, panels: Array<{ title: string, series: Array<{ name: string, points: Array<{ x: number, median: number, min: number, max: number }> }> }> }} chart
 */
export function chartSvg({ title, panels }) {
  const pw = 480;
  const ph = 300;
  const m = { l: 62, r: 16, t: 56, b: 46 };
  const legendH = 24 * Math.ceil(Math.max(...panels.map((p) => p.series.length)) / 2) + 10;
  const width = panels.length * (pw + m.l + m.r);
  const height = ph + m.t + m.b + legendH;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);

  // One y range for every panel, so the panels compare at a glance.
  const all = panels.flatMap((p) => p.series.flatMap((s) => s.points));
  const xs = all.map((p) => p.x);
  const ys = all.flatMap((p) => [p.min, p.max]).filter((v) => v > 0);
  const xlo = Math.min(...xs, 1);
  const xhi = Math.max(...xs, 10);
  const yTicks = decades(Math.min(...ys, 1), Math.max(...ys, 10));
  const ylo = yTicks[0];
  const yhi = yTicks[yTicks.length - 1];
  const xTicks = decades(xlo, xhi).filter((v) => v >= xlo && v <= xhi * 1.0001);
  if (!xTicks.includes(xhi)) xTicks.push(xhi);

  panels.forEach((panel, pi) => {
    const ox = pi * (pw + m.l + m.r) + m.l;
    const oy = m.t;
    const X = (v) => ox + ((Math.log10(v) - Math.log10(xlo)) / (Math.log10(xhi) - Math.log10(xlo) || 1)) * pw;
    const Y = (v) => oy + ph - ((Math.log10(v) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo) || 1)) * ph;
    out.push(`<text x="${ox + pw / 2}" y="${oy - 12}" text-anchor="middle" font-size="13">${esc(panel.title)}</text>`);
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    for (const t of yTicks) {
      out.push(`<line x1="${ox}" x2="${ox + pw}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#ddd"/>`);
      out.push(`<text x="${ox - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${tickLabel(t, 'ms')}</text>`);
      // minor ticks 2..9
      for (let k = 2; k < 10 && t * k < yhi; k++) out.push(`<line x1="${ox}" x2="${ox + 4}" y1="${Y(t * k).toFixed(1)}" y2="${Y(t * k).toFixed(1)}" stroke="#888"/>`);
    }
    for (const t of xTicks) {
      out.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${oy}" y2="${oy + ph}" stroke="#eee"/>`);
      out.push(`<text x="${X(t).toFixed(1)}" y="${oy + ph + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
    }
    out.push(`<text x="${ox + pw / 2}" y="${oy + ph + 34}" text-anchor="middle">number of services (log scale)</text>`);
    out.push(`<text transform="translate(${ox - 48} ${oy + ph / 2}) rotate(-90)" text-anchor="middle">time (log scale)</text>`);
    panel.series.forEach((s, si) => {
      if (!s.points.length) return;
      const color = COLORS[si % COLORS.length];
      const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${X(p.x).toFixed(1)},${Y(p.median).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${DASHES[si] ? ` stroke-dasharray="${DASHES[si]}"` : ''}/>`);
      for (const p of s.points) {
        const x = X(p.x).toFixed(1);
        out.push(`<line x1="${x}" x2="${x}" y1="${Y(p.min).toFixed(1)}" y2="${Y(p.max).toFixed(1)}" stroke="${color}"/>`);
        out.push(`<circle cx="${x}" cy="${Y(p.median).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${s.name}, N=${p.x}: ${p.median.toFixed(1)} ms (${p.min.toFixed(1)}–${p.max.toFixed(1)})`)}</title></circle>`);
      }
      const lx = ox + (si % 2) * 262;
      const ly = oy + ph + m.b + 8 + Math.floor(si / 2) * 24;
      out.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${DASHES[si] ? ` stroke-dasharray="${DASHES[si]}"` : ''}/>`);
      out.push(`<circle cx="${lx + 13}" cy="${ly}" r="3.5" fill="${color}"/>`);
      out.push(`<text x="${lx + 32}" y="${ly + 4}">${esc(s.name)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
