// The billing page's chart: usage by day, drawn with uPlot (served from the installed package),
// on the page and in each usage section htmx swaps in. The data come as integer micro-dollars
// per day; they become credits or dollars here, for drawing only. The legend under the chart
// says the day pointed at with its amount as the server wrote it (one money format).
htmx.onLoad(function (root) {
  const DAY = 86400;
  const day = (t) => new Date(t * 1000).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
  for (const el of root.querySelectorAll('[data-series]')) {
    const s = JSON.parse(el.dataset.series);
    const credits = s.unit === 'credits';
    const tick = (v) => (credits ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : `$${v.toLocaleString('en-US', { maximumFractionDigits: 2 })}`);
    const height = 220;
    const chart = new uPlot(
      {
        width: el.clientWidth,
        height,
        legend: { live: true },
        cursor: { y: false },
        tzDate: (t) => uPlot.tzDate(new Date(t * 1000), 'Etc/UTC'),
        series: [
          { label: 'Day', value: (u, t) => (t == null ? '—' : day(t)) },
          { label: 'Usage', stroke: '#2563eb', fill: '#2563eb55', width: 1, paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false }, value: (u, v, series, at) => (at == null ? '—' : s.shown[at]) },
        ],
        axes: [
          { incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY], values: (u, splits) => splits.map(day), space: 60 },
          { values: (u, values) => values.map(tick), size: 56 },
        ],
        scales: { x: { time: true, range: (u, min, max) => [min - DAY / 2, max + DAY / 2] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      },
      [s.x, s.micros.map((m) => (credits ? m / s.creditMicros : m / 1e6))],
      el,
    );
    new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height })).observe(el);
    el.dataset.drawn = 'true';
  }
});
