// tokenfleet: draws every <div data-fig="ID"> of a report from the JSON in <script id="tf-figures">, then sets
// body[data-rendered="1"]. The dashboard uses tfDraw for its own figures (served at /viz/report.js).
"use strict";
const TF_CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"]};
function tfDraw(div, fig) {
  return Plotly.newPlot(div, fig.data, fig.layout, TF_CONFIG);
}
function tfDrawAll() {
  const body = document.body;
  const src = document.getElementById("tf-figures");
  if (!src) { body.dataset.rendered = "1"; return; }
  if (typeof Plotly === "undefined") {
    const warn = document.getElementById("tf-nojs");
    if (warn) warn.hidden = false;
    body.dataset.rendered = "1";
    return;
  }
  const figs = JSON.parse(src.textContent);
  const jobs = [];
  document.querySelectorAll("[data-fig]").forEach(d => {
    const f = figs[d.dataset.fig];
    if (f) jobs.push(tfDraw(d, f));
  });
  Promise.all(jobs).then(() => { body.dataset.rendered = "1"; });
}
if (document.getElementById("tf-figures")) {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tfDrawAll);
  else tfDrawAll();
}
