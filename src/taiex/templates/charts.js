// Draws each figure's Vega-Lite specs (its <script class="chart-spec"> children) over its PNG,
// as wide as the figure, and again when the width changes. The PNG stays where this cannot run.
// window.taiexCharts: the promise of the latest drawing (a test or a bench awaits it), and
// window.taiexChartsWidth the window's width the drawn charts fit.
(() => {
  "use strict";
  // The y labels' fixed band (charts.py's AXIS_WIDTH), the padding and the last x label's
  // overhang: a chart drawn this much narrower than its figure fits at the first try.
  const AXIS = 48 + 10 + 8;
  const drawn = new Map(); // figure -> its vega-embed results
  let drawnWidth = 0;

  function sized(spec, width) {
    const copy = JSON.parse(JSON.stringify(spec));
    copy.config = copy.config || {};
    copy.config.view = Object.assign({}, copy.config.view, {
      continuousWidth: Math.max(120, width - AXIS),
      discreteWidth: Math.max(120, width - AXIS), // the trading days' axis too, not 20 px a day
      continuousHeight: Math.round(Math.min(300, Math.max(200, width * 0.55))),
    });
    copy.config.legend = Object.assign({}, copy.config.legend, {columns: width < 500 ? 2 : 4});
    // A title never makes the chart wider than its figure: cut with an ellipsis instead.
    copy.config.title = Object.assign({}, copy.config.title, {limit: width - 10});
    return copy;
  }

  async function drawFigure(figure) {
    performance.mark(`${figure.id}:start`);
    for (const result of drawn.get(figure) || []) result.finalize();
    let box = figure.querySelector(".charts");
    if (!box) {
      box = document.createElement("div");
      box.className = "charts";
      figure.insertBefore(box, figure.querySelector("figcaption"));
    }
    figure.classList.add("interactive");
    box.replaceChildren();
    const width = box.clientWidth;
    const specs = [...figure.querySelectorAll("script.chart-spec")].map((s) => JSON.parse(s.textContent));
    const results = [];
    for (const spec of specs) {
      const holder = box.appendChild(document.createElement("div"));
      holder.className = "chart";
      tapToHover(holder);
      let result = await vegaEmbed(holder, sized(spec, width), {renderer: "svg", actions: false});
      // Labels that stick out (a long legend, a last date) make it wider: draw it narrower once.
      const over = holder.scrollWidth - width;
      if (over > 0) {
        result.finalize();
        result = await vegaEmbed(holder, sized(spec, width - over), {renderer: "svg", actions: false});
      }
      results.push(result);
    }
    drawn.set(figure, results);
    performance.measure(figure.id, `${figure.id}:start`); // what bench/report_page.py reads
  }

  // A tap shows a point's values as a hover does. A touch sends no pointermove over the point,
  // which vega's tooltip follows, and the events after its pointerup may hide one: once they are
  // handled, and again after the tap's click, one is sent where the finger was lifted.
  function tapToHover(holder) {
    let lifted = null;
    const hover = () => {
      if (!lifted) return;
      const {target, clientX, clientY, pointerType} = lifted;
      target.dispatchEvent(new PointerEvent("pointermove", {bubbles: true, clientX, clientY, pointerType}));
    };
    holder.addEventListener("pointerdown", () => { lifted = null; });
    holder.addEventListener("pointerup", (event) => {
      if (event.pointerType === "mouse") return;
      lifted = event;
      setTimeout(hover, 0);
    });
    holder.addEventListener("click", hover);
  }

  function drawAll() {
    const width = (drawnWidth = window.innerWidth);
    const figures = [...document.querySelectorAll("figure[data-charts]")];
    return Promise.all(figures.map((figure) => drawFigure(figure).catch((error) => {
      figure.classList.remove("interactive"); // the PNG is back
      console.error("chart not drawn:", figure.id, error);
    }))).then(() => { window.taiexChartsWidth = width; }); // the window's width they fit
  }

  // Redrawn once the width has stopped changing; whoever awaits taiexCharts meanwhile gets
  // the redrawing's promise.
  let timer = null;
  let release = null;
  window.addEventListener("resize", () => {
    if (window.innerWidth === drawnWidth) return;
    clearTimeout(timer);
    if (!release) window.taiexCharts = new Promise((resolve) => { release = resolve; });
    timer = setTimeout(() => {
      const done = release;
      release = null;
      drawAll().then(done);
    }, 150);
  });
  window.taiexCharts = typeof vegaEmbed === "function" ? drawAll() : Promise.resolve();
})();
