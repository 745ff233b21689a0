// tlsrpt dashboard: draws the charts from the JSON the page carries, with
// uPlot (vendored, embedded). The tables beside the charts hold the same
// numbers, so the page reads without this script.
(function () {
  "use strict";
  // Okabe-Ito: a palette told apart with every common colour blindness;
  // lines also differ by dash, so colour is never the only cue.
  var OK = "#0072B2", FAIL = "#D55E00";
  var PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  var DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3], [1, 3], [10, 5]];

  var node = document.getElementById("chart-data");
  if (!node || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  var days = data.days || [];

  function width(el) { return Math.max(280, Math.min(el.parentNode.clientWidth || 800, 1100)); }

  function plot(el, series, values, opts) {
    var o = {
      width: width(el), height: 220,
      series: [{}].concat(series),
      axes: [{}, { size: 60, values: opts && opts.percent ? function (u, v) { return v.map(function (x) { return x + "%"; }); } : undefined }],
      scales: { x: { time: true } },
      legend: { live: false }
    };
    var u = new uPlot(o, [days].concat(values), el);
    el.setAttribute("data-drawn", "1");
    return u;
  }

  var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : null;

  (data.domains || []).forEach(function (d, i) {
    var el = document.getElementById("sessions-" + i);
    if (!el) { return; }
    // Stacked: the total bar (successful on top) drawn first, failed over
    // its bottom part.
    var total = d.successful.map(function (s, k) { return s + d.failed[k]; });
    plot(el, [
      { label: "successful", stroke: OK, fill: OK, paths: bars, points: { show: false } },
      { label: "failed", stroke: FAIL, fill: FAIL, paths: bars, points: { show: false } }
    ], [total, d.failed]);
  });

  var rates = document.getElementById("rates-chart");
  if (rates && (data.domains || []).length) {
    plot(rates, data.domains.map(function (d, i) {
      return { label: d.name || "(none)", stroke: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length], width: 2, spanGaps: false };
    }), data.domains.map(function (d) { return d.rate; }), { percent: true });
  }

  var types = document.getElementById("types-chart");
  if (types && (data.types || []).length) {
    plot(types, data.types.map(function (t, i) {
      return { label: t.name || "(none)", stroke: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length], width: 2 };
    }), data.types.map(function (t) { return t.failed; }));
  }

  // TLS sessions beside DMARC messages, per reporter: numbers only, the
  // labels are ours; the reporter's name is in the page's HTML.
  (data.reporters || []).forEach(function (r, i) {
    var el = document.getElementById("dmarc-" + i);
    if (!el) { return; }
    plot(el, [
      { label: "TLS successful", stroke: OK, width: 2 },
      { label: "TLS failed", stroke: FAIL, width: 2 },
      { label: "DMARC pass", stroke: "#009E73", dash: [6, 3], width: 2 },
      { label: "DMARC fail", stroke: "#CC79A7", dash: [6, 3], width: 2 }
    ], [r.successful, r.failed, r.pass, r.fail]);
  });

  // Copy buttons, shown only where the clipboard can be written.
  if (navigator.clipboard && window.isSecureContext) {
    Array.prototype.forEach.call(document.querySelectorAll("button.copy"), function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () { b.textContent = "Copied"; });
      });
    });
  }
})();
