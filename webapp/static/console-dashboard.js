/* The dashboard's charts (/console/dashboard): the weekly trend and the categories, drawn with
   Apache ECharts (static/vendor/echarts) from the data-charts attribute the page carries (the
   CSP allows no inline script). Rates are percent, null where the page shows "—". */
(function () {
  "use strict";
  function draw(element) {
    if (!window.echarts) { return; }
    var data = JSON.parse(element.getAttribute("data-charts"))[element.getAttribute("data-chart")];
    var chart = window.echarts.init(element, null, { renderer: "svg", locale: "ZH" });
    var grid = { left: 8, right: 8, top: 60, bottom: 8, containLabel: true };
    var option;
    if (element.getAttribute("data-chart") === "weekly") {
      option = {
        tooltip: { trigger: "axis" },
        legend: { top: 0, data: ["受理量", "响应率", "按时办结率", "满意率"] },
        grid: grid,
        xAxis: { type: "category", data: data.labels },
        yAxis: [
          { type: "value", name: "件", minInterval: 1 },
          { type: "value", name: "%", min: 0, max: 100 }
        ],
        series: [
          { name: "受理量", type: "bar", data: data.tickets },
          { name: "响应率", type: "line", yAxisIndex: 1, data: data.response, connectNulls: false },
          { name: "按时办结率", type: "line", yAxisIndex: 1, data: data.closure, connectNulls: false },
          { name: "满意率", type: "line", yAxisIndex: 1, data: data.satisfaction, connectNulls: false }
        ]
      };
    } else {
      option = {
        tooltip: { trigger: "axis" },
        legend: { top: 0, data: ["受理量", "当前超期"] },
        grid: grid,
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: data.labels, inverse: true },
        series: [
          { name: "受理量", type: "bar", data: data.tickets },
          { name: "当前超期", type: "bar", data: data.overdue }
        ]
      };
    }
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
    element.setAttribute("data-drawn", "1");
  }
  function start() {
    var charts = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) { draw(charts[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
