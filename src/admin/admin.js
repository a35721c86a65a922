// The admin panel's charts: each element with data-series is drawn with uPlot (served by the
// panel from the installed package). The series come as integer micro-dollars per UTC day; they
// become dollars here, for drawing only.
(function () {
  const dollars = (v) => (v == null ? '—' : '$' + v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 }));
  const tick = (v) => '$' + v.toLocaleString('en-US', { maximumFractionDigits: 2 });
  for (const el of document.querySelectorAll('[data-series]')) {
    const s = JSON.parse(el.dataset.series);
    const few = s.x.length < 40;
    const height = 260;
    const chart = new uPlot(
      {
        width: el.clientWidth,
        height,
        series: [
          {},
          ...s.series.map((line, i) => ({
            label: line.label,
            stroke: line.color,
            width: 2,
            fill: i === 0 ? line.color + '14' : undefined,
            value: (u, v) => dollars(v),
            points: { show: few, size: 5 },
          })),
        ],
        axes: [{}, { values: (u, values) => values.map(tick), size: 70 }],
        scales: { x: { time: true } },
      },
      [s.x, ...s.series.map((line) => line.micros.map((m) => m / 1e6))],
      el,
    );
    new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height })).observe(el);
    el.dataset.drawn = 'true';
  }
})();
