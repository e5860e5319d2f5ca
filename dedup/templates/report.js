"use strict";
// Renders the report from the JSON block. Every text from the data goes in through textContent or
// an attribute of a known name: scraped text is never parsed as HTML.
(() => {
  const REASONS = ["duplicate", "near_duplicate", "duplicate_document", "off_topic", "furniture", "boilerplate",
    "empty", "invalid"];
  const PAGE_SIZE = 25;
  const SVG = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("dedup-data").textContent);
  const docs = data.documents;
  const firstIndex = new Map();
  docs.forEach((doc, i) => {
    if (!firstIndex.has(doc.id)) firstIndex.set(doc.id, i);
    const reasons = new Set();
    if (doc.dropped) reasons.add(doc.dropped);
    for (const p of doc.p) if (p.r) reasons.add(p.r);
    doc.reasons = reasons;
  });

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svgEl(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    return node;
  }
  function svgText(x, y, text, anchor) {
    const node = svgEl("text", {x: x, y: y, "text-anchor": anchor || "start"});
    node.textContent = String(text);
    return node;
  }
  const reasonClass = (reason) => (REASONS.includes(reason) ? "r-" + reason : "r-other");
  const number = (n) => Number(n).toLocaleString("en");
  const score = (s) => (typeof s === "number" ? s.toFixed(3) : String(s));

  // -- the summary ------------------------------------------------------------------------------
  function renderSummary() {
    const c = data.counts;
    const counts = document.getElementById("counts");
    const facts = [
      ["documents in", c.documents.in], ["documents out", c.documents.out],
      ["documents dropped", c.documents.dropped], ["documents skipped", c.documents.skipped],
      ["paragraphs in", c.paragraphs.in], ["paragraphs out", c.paragraphs.out],
    ];
    for (const [label, value] of facts) {
      const item = el("span", null, label + ": ");
      item.appendChild(el("b", null, number(value)));
      counts.appendChild(item);
    }
    const rows = [
      {label: "documents in", value: c.documents.in, group: "documents"},
      {label: "documents out", value: c.documents.out, group: "documents"},
      {label: "paragraphs in", value: c.paragraphs.in, group: "paragraphs"},
      {label: "paragraphs out", value: c.paragraphs.out, group: "paragraphs"},
    ];
    const removed = [];
    for (const [kind, perReason] of [["paragraphs", c.removed.paragraphs], ["documents", c.removed.documents]]) {
      for (const [reason, value] of Object.entries(perReason)) {
        removed.push({label: reason + " (" + kind + ")", value: value, group: "removed", reason: reason});
      }
    }
    const all = rows.concat(removed);
    const rowHeight = 22, left = 240, width = 700, barWidth = width - left - 70;
    const chart = svgEl("svg", {id: "summary-chart", width: width, height: all.length * rowHeight + 10,
      viewBox: "0 0 " + width + " " + (all.length * rowHeight + 10), role: "img"});
    const title = svgEl("title");
    title.textContent = "Documents and paragraphs in and out, and removals by reason";
    chart.appendChild(title);
    const scale = {};
    for (const row of all) scale[row.group] = Math.max(scale[row.group] || 0, row.value);
    all.forEach((row, i) => {
      const y = i * rowHeight + 5;
      chart.appendChild(svgText(left - 8, y + 14, row.label, "end"));
      const w = scale[row.group] ? Math.max(1, (row.value / scale[row.group]) * barWidth) : 0;
      const bar = svgEl("rect", {x: left, y: y + 2, width: w, height: rowHeight - 6,
        class: row.reason ? "bar " + reasonClass(row.reason) : "kept"});
      chart.appendChild(bar);
      chart.appendChild(svgText(left + w + 6, y + 14, number(row.value)));
    });
    document.getElementById("summary-chart-box").appendChild(chart);
  }

  // -- the histograms ---------------------------------------------------------------------------
  function renderHistogram(name, histogram) {
    const box = el("div", "chart");
    box.appendChild(el("h3", null, histogram.title));
    const kept = histogram.kept, removed = histogram.removed, bins = kept.length;
    const total = kept.reduce((a, b) => a + b, 0) + removed.reduce((a, b) => a + b, 0);
    if (!total) {
      box.appendChild(el("p", "muted", histogram.empty));
      return box;
    }
    const width = 420, height = 170, left = 40, bottom = 24, top = 18;
    const plotWidth = width - left - 10, plotHeight = height - bottom - top;
    const chart = svgEl("svg", {id: "histogram-" + name, class: "histogram", width: width, height: height,
      viewBox: "0 0 " + width + " " + height, role: "img"});
    const title = svgEl("title");
    title.textContent = histogram.title;
    chart.appendChild(title);
    // Square-root scale: a tall bin of kept paragraphs must not flatten the removals.
    const most = Math.max(...kept.map((k, i) => k + removed[i]));
    const h = (n) => (n ? Math.max(1, (Math.sqrt(n) / Math.sqrt(most)) * plotHeight) : 0);
    const step = plotWidth / bins;
    for (let i = 0; i < bins; i++) {
      const x = left + i * step, hk = h(kept[i] + removed[i]), hr = h(kept[i] + removed[i]) * (removed[i] /
        Math.max(1, kept[i] + removed[i]));
      if (kept[i]) chart.appendChild(svgEl("rect", {x: x, y: top + plotHeight - hk, width: step - 1,
        height: hk - hr, class: "kept"}));
      if (removed[i]) chart.appendChild(svgEl("rect", {x: x, y: top + plotHeight - hr, width: step - 1,
        height: hr, class: "bar " + reasonClass(histogram.reason)}));
    }
    chart.appendChild(svgEl("line", {x1: left, y1: top + plotHeight, x2: left + plotWidth, y2: top + plotHeight,
      class: "axis"}));
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      chart.appendChild(svgText(left + tick * plotWidth, height - 6, tick, "middle"));
    }
    chart.appendChild(svgText(left - 4, top + 8, number(most), "end"));
    histogram.thresholds.forEach((threshold, i) => {
      const x = left + threshold.value * plotWidth;
      chart.appendChild(svgEl("line", {x1: x, y1: top - 4, x2: x, y2: top + plotHeight, class: "threshold"}));
      const label = svgText(x + (i % 2 ? -4 : 4), top + 4 + i * 13, threshold.label + " " + threshold.value,
        i % 2 ? "end" : "start");
      chart.appendChild(label);
    });
    box.appendChild(chart);
    const legend = el("p", "legend muted");
    const keptKey = el("span", null, "kept: " + number(kept.reduce((a, b) => a + b, 0)));
    const removedKey = el("span", null, "removed: " + number(removed.reduce((a, b) => a + b, 0)));
    const swatch = el("i", "swatch " + reasonClass(histogram.reason));
    removedKey.prepend(swatch);
    legend.append(keptKey, removedKey);
    if (histogram.note) legend.append(el("span", null, histogram.note));
    box.appendChild(legend);
    return box;
  }
  function renderHistograms() {
    const box = document.getElementById("histograms");
    for (const [name, histogram] of Object.entries(data.histograms)) box.appendChild(renderHistogram(name, histogram));
  }

  // -- the documents ----------------------------------------------------------------------------
  const filterReason = document.getElementById("filter-reason");
  const filterText = document.getElementById("filter-text");
  const list = document.getElementById("documents");
  const pageLabel = document.getElementById("page-label");
  const nearMiss = data.histograms.topic.thresholds[0].value / 2;
  let shown = [], page = 0;

  function setUpFilters() {
    const perReason = new Map();
    for (const doc of docs) for (const reason of doc.reasons) perReason.set(reason, (perReason.get(reason) || 0) + 1);
    const withRemovals = docs.filter((d) => d.reasons.size).length;
    const options = [["all", "all documents (" + number(docs.length) + ")"],
      ["removed", "with a removal (" + number(withRemovals) + ")"],
      ["untouched", "untouched (" + number(docs.length - withRemovals) + ")"]];
    const known = REASONS.filter((r) => perReason.has(r));
    const other = [...perReason.keys()].filter((r) => !REASONS.includes(r)).sort();
    for (const reason of known.concat(other)) {
      options.push(["reason:" + reason, reason + " (" + number(perReason.get(reason)) + ")"]);
    }
    for (const [value, label] of options) {
      const option = el("option", null, label);
      option.value = value;
      filterReason.appendChild(option);
    }
    filterReason.addEventListener("change", () => { applyFilter(); render(); });
    let typing = null;  // a search of every text per keystroke would lag on a large report
    filterText.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { applyFilter(); render(); }, 250);
    });
    document.getElementById("previous").addEventListener("click", () => { page -= 1; render(); });
    document.getElementById("next").addEventListener("click", () => { page += 1; render(); });
  }

  function matches(doc, reason, text) {
    if (reason === "removed" && !doc.reasons.size) return false;
    if (reason === "untouched" && doc.reasons.size) return false;
    if (reason.startsWith("reason:") && !doc.reasons.has(reason.slice(7))) return false;
    if (!text) return true;
    if (doc.id.toLowerCase().includes(text)) return true;
    return doc.p.some((p) => p.t.toLowerCase().includes(text));
  }
  function applyFilter() {
    const reason = filterReason.value, text = filterText.value.trim().toLowerCase();
    shown = [];
    docs.forEach((doc, i) => { if (matches(doc, reason, text)) shown.push(i); });
    page = 0;
  }

  function repeatLink(ref, prefix) {
    const span = el("span", null, prefix);
    const target = firstIndex.get(ref.id);
    const where = ref.id + (ref.paragraph === null || ref.paragraph === undefined ? "" : " ¶" + ref.paragraph);
    if (target === undefined) {
      span.appendChild(el("span", null, where + " (not in this report)"));
      return span;
    }
    const anchor = el("a", "repeat", where);
    const hash = ref.paragraph === null || ref.paragraph === undefined ? "#d-" + target
      : "#p-" + target + "-" + ref.paragraph;
    anchor.href = hash;
    anchor.addEventListener("click", (event) => {
      event.preventDefault();
      if (location.hash !== hash) history.pushState(null, "", hash);
      goTo(hash);
    });
    span.appendChild(anchor);
    return span;
  }

  function renderDocument(i) {
    const doc = docs[i];
    const article = el("article", "doc");
    article.id = "d-" + i;
    const heading = el("h3");
    if (doc.dropped) {
      heading.appendChild(el("span", "badge " + reasonClass(doc.dropped), "dropped: " + doc.dropped));
    }
    heading.appendChild(el("span", "doc-id", doc.id));
    article.appendChild(heading);
    if (doc.dropped) {
      const why = el("p", "why muted", "score " + score(doc.s));
      if (doc.d) why.appendChild(repeatLink(doc.d, " · repeats document "));
      if (doc.e) why.appendChild(el("span", null, " · " + doc.e));
      article.appendChild(why);
    }
    const paragraphs = el("ol");
    doc.p.forEach((p, j) => {
      const item = el("li", p.r ? "para removed " + reasonClass(p.r) : "para kept");
      item.id = "p-" + i + "-" + j;
      item.value = j;
      item.appendChild(el("span", "text", p.t));
      const why = el("span", "why");
      if (p.r) {
        why.appendChild(el("span", "badge " + reasonClass(p.r), p.r));
        why.appendChild(el("span", null, "score " + score(p.s)));
        if (p.g) {
          const signals = Object.entries(p.g).map(([name, value]) => name + " " + value).join(", ");
          why.appendChild(el("span", "signals", " · signals: " + signals));
        }
        if (p.d) why.appendChild(repeatLink(p.d, " · repeats "));
      } else if (p.s >= nearMiss) {  // kept, but not far from the line
        why.appendChild(el("span", null, "kept · off-topic score " + score(p.s)));
      }
      if (p.x) why.appendChild(el("span", null, " · shortened: " + number(p.x) + " characters in all"));
      if (why.childNodes.length) item.appendChild(why);
      paragraphs.appendChild(item);
    });
    article.appendChild(paragraphs);
    return article;
  }

  function render() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
    page = Math.min(Math.max(page, 0), pages - 1);
    list.replaceChildren();
    for (const i of shown.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE)) list.appendChild(renderDocument(i));
    if (!shown.length) list.appendChild(el("p", "muted", "No document matches."));
    pageLabel.textContent = "page " + (page + 1) + " of " + pages + " · " + number(shown.length) + " documents";
    document.getElementById("previous").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  }

  function goTo(hash) {
    const found = /^#(?:d-(\d+)|p-(\d+)-(\d+))$/.exec(hash);
    if (!found) return;
    const i = Number(found[1] !== undefined ? found[1] : found[2]);
    if (!(i < docs.length)) return;
    let position = shown.indexOf(i);
    if (position < 0) {  // filtered out: show every document again
      filterReason.value = "all";
      filterText.value = "";
      applyFilter();
      position = shown.indexOf(i);
    }
    page = Math.floor(position / PAGE_SIZE);
    render();
    const target = document.getElementById(hash.slice(1)) || document.getElementById("d-" + i);
    for (const old of document.querySelectorAll(".target")) old.classList.remove("target");
    target.classList.add("target");
    target.scrollIntoView({block: "center"});
  }

  function renderSample() {
    const sample = data.sample, notes = document.getElementById("notes");
    if (sample.shown < sample.documents) {
      notes.appendChild(el("p", "note", "This page shows " + number(sample.shown) + " of " +
        number(sample.documents) + " documents: the file is kept under " + number(sample.max_bytes) +
        " bytes. Documents with a removal come first, then the rest; within each, a fixed sample " +
        "(by a hash of the id). The counts and the histograms cover every document."));
    }
    if (sample.shortened) {
      notes.appendChild(el("p", "note", number(sample.shortened) + " paragraphs longer than " +
        number(sample.paragraph_chars) + " characters are shortened to that length here."));
    }
    if (!data.settings_known) {
      notes.appendChild(el("p", "note", "The thresholds marked are dedup's defaults: give the run's " +
        "summary (dedup report --summary SUMMARY.json) to mark the ones it used."));
    }
    document.getElementById("generated").textContent = data.generated;
  }

  renderSample();
  renderSummary();
  renderHistograms();
  setUpFilters();
  applyFilter();
  render();
  window.addEventListener("hashchange", () => goTo(location.hash));
  window.addEventListener("popstate", () => goTo(location.hash));
  if (location.hash) goTo(location.hash);
})();
