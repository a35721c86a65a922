// The admin panel's charts: each element with data-series is drawn with uPlot (served by the
// panel from the installed package). The series come as integer micro-dollars per UTC day, drawn
// as dollars, and each day's amount as the page shows it, for the legend: one money format, the
// server's. The first series is drawn as bars, the others as lines.
(function () {
  // An axis tick: whole dollars as "$2", a fraction with cents at least ("$0.50", "$0.0005"), never "$0.5".
  const tick = (v) => (v < 0 ? '-$' : '$') + Math.abs(v).toLocaleString('en-US', Number.isInteger(v) ? {} : { minimumFractionDigits: 2, maximumFractionDigits: 6 });
  const DAY = 86400;
  const day = (t) => new Date(t * 1000).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
  for (const el of document.querySelectorAll('[data-series]')) {
    const s = JSON.parse(el.dataset.series);
    const few = s.x.length < 40;
    const height = 260;
    const bars = uPlot.paths.bars({ size: [0.5, 48] });
    const chart = new uPlot(
      {
        width: el.clientWidth,
        height,
        tzDate: (t) => uPlot.tzDate(new Date(t * 1000), 'Etc/UTC'),
        series: [
          { label: 'Day', value: (u, t) => (t == null ? '—' : day(t)) },
          ...s.series.map((line, i) =>
            i === 0
              ? { label: line.label, stroke: line.color, fill: line.color + '33', width: 1, paths: bars, points: { show: false }, value: (u, v, series, at) => (at == null ? '—' : line.shown[at]) }
              : { label: line.label, stroke: line.color, width: 2, dash: i === 2 ? [6, 4] : undefined, value: (u, v, series, at) => (at == null ? '—' : line.shown[at]), points: { show: few, size: 5 } },
          ),
        ],
        axes: [
          { incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 365 * DAY], values: (u, splits) => splits.map(day) },
          { values: (u, values) => values.map(tick), size: 70 },
        ],
        // Half a day either side of the first and last days, so that their bars are whole: from the
        // data, as uPlot widens a single day to a thousand before calling a range. Bars stand on zero,
        // so that their heights compare (a day's $42 is twice its $21, not a bar from $20).
        scales: {
          x: { time: true, range: () => [s.x[0] - DAY / 2, s.x[s.x.length - 1] + DAY / 2] },
          y: { range: (u, min, max) => (min === max && min === 0 ? [0, 1] : [Math.min(0, min * 1.1), Math.max(0, max * 1.1)]) },
        },
        // What each draw spans, on the element: a test (or a curious owner) can read it.
        hooks: { draw: [(u) => (el.dataset.scales = JSON.stringify({ x: [u.scales.x.min, u.scales.x.max], y: [u.scales.y.min, u.scales.y.max] }))] },
      },
      [s.x, ...s.series.map((line) => line.micros.map((m) => m / 1e6))],
      el,
    );
    new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height })).observe(el);
    el.dataset.drawn = 'true';
  }
})();
