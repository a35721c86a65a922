// The admin panel's charts: each element with data-series is drawn with uPlot (served by the
// panel from the installed package), revenue after refunds, provider cost and margin by day.
(function () {
  const dollars = (v) => (v == null ? '—' : '$' + v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 4 }));
  const tick = (v) => '$' + v.toLocaleString('en-US', { maximumFractionDigits: 2 });
  for (const el of document.querySelectorAll('[data-series]')) {
    const s = JSON.parse(el.dataset.series);
    const few = s.x.length < 40;
    const line = (label, stroke, fill) => ({ label, stroke, width: 2, fill, value: (u, v) => dollars(v), points: { show: few, size: 5 } });
    const height = 280;
    const chart = new uPlot(
      {
        width: el.clientWidth,
        height,
        series: [{}, line('Revenue', '#2563eb', 'rgba(37, 99, 235, 0.08)'), line('Provider cost', '#dc2626'), line('Margin', '#16a34a')],
        axes: [{}, { values: (u, values) => values.map(tick), size: 70 }],
        scales: { x: { time: true } },
      },
      [s.x, s.revenue, s.cost, s.margin],
      el,
    );
    new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height })).observe(el);
    el.dataset.drawn = 'true';
  }
})();
