"use strict";
// Charts drawn with uPlot (vendor/uplot): one per figure, redrawn from each answer, with a
// text summary and the figures as a table beside it, for those who cannot see the plot.

class Chart {
  constructor(id) {
    this.id = id;
    this.figure = $(id);
    this.box = $(`${id}-plot`);
    this.plot = null;
    this.asked = 0;  // answers to older questions are dropped
    new ResizeObserver(() => {
      const width = this.box.clientWidth;
      if (this.plot && width && width !== this.plot.width) this.plot.setSize({ width, height: this.plot.height });
    }).observe(this.box);
  }

  ask() {
    this.figure.dataset.state = "loading";
    this.figure.setAttribute("aria-busy", "true");
    return ++this.asked;
  }

  current(ticket) { return ticket === this.asked; }

  settle(state) {
    this.figure.dataset.state = state;
    this.figure.removeAttribute("aria-busy");
    if (state !== "ready" && this.plot) { this.plot.destroy(); this.plot = null; }
  }

  empty(title, text) {
    $(`${this.id}-title`).textContent = title;
    $(`${this.id}-empty`).textContent = text;
    $(`${this.id}-summary`).textContent = "";
    this.settle("empty");
  }

  failed(text) {
    $(`${this.id}-error`).textContent = `Could not load this chart: ${text}`;
    this.settle("error");
  }

  draw({ title, label, unit, period, xs, ys, bars, summary }) {
    $(`${this.id}-title`).textContent = title;
    $(`${this.id}-summary`).textContent = summary;
    $(`${this.id}-unit`).textContent = `${label} (${unit})`;
    this.box.setAttribute("aria-label", `Chart: ${title}`);
    $(`${this.id}-rows`).replaceChildren(...xs.map((x, i) => {
      const row = document.createElement("tr");
      const when = document.createElement("th"), value = document.createElement("td");
      when.scope = "row";
      when.textContent = periodLabel(x, period);
      value.textContent = ys[i] == null ? "–" : fmt(ys[i]);
      row.append(when, value);
      return row;
    }));
    if (this.plot) this.plot.destroy();
    // The figure shows again before measuring: an empty one had the plot hidden.
    this.settle("ready");
    const half = (period === "week" ? 7 : 1) * 43200;  // room for the first and last bar
    const colour = bars ? "#2b7a4b" : "#1f6feb";
    this.plot = new uPlot({
      width: this.box.clientWidth || 300,
      height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),  // the API's days are UTC days
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: (u, min, max) => [min - half, max + half] },
        // Bars stand on zero; a mean's line gets room around its values (one sample too).
        y: { range: (u, min, max) => (bars ? [0, max > 0 ? max * 1.1 : 1] : around(min, max)) },
      },
      axes: [
        { stroke: "#1d2530", grid: { stroke: "#eef" } },
        { stroke: "#1d2530", grid: { stroke: "#eef" }, size: 48, values: (u, splits) => splits.map((v) => compact.format(v)) },
      ],
      series: [
        { label: period === "week" ? "Week" : "Day", value: (u, ts) => (ts == null ? "–" : periodLabel(ts, period)) },
        {
          label,
          stroke: colour,
          width: 2,
          fill: bars ? "#2b7a4b99" : undefined,
          paths: bars ? uPlot.paths.bars({ size: [0.7, 48] }) : undefined,
          points: { show: !bars, size: 6, fill: colour },
          spanGaps: true,
          value: (u, v) => (v == null ? "–" : `${fmt(v)} ${unit}`),
        },
      ],
    }, [xs, ys], this.box);
  }
}

function around(min, max) {
  const pad = Math.max((max - min) * 0.15, Math.abs(max) * 0.05, 1);
  return [Math.max(0, Math.floor(min - pad)), Math.ceil(max + pad)];
}

function periodLabel(seconds, period) {
  const day = new Date(seconds * 1000).toLocaleDateString("en", { timeZone: "UTC", month: "short", day: "numeric" });
  return period === "week" ? `week of ${day}` : day;
}
