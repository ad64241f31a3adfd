/* The leadership dashboard (领导驾驶舱): KPIs, a map and charts from the ledgers.
 *
 * Every figure comes from the service's JSON endpoints, read with the visitor's own
 * credentials (the session cookie): /stats/cases and /stats/inspections grouped by year,
 * month, industry, problem type and city or county, and the divisions' outlines from
 * /collections/jurisdictions/items. A 401 (anonymous below province) shows the sign-in
 * prompt, a 403 (outside the account's jurisdiction) the refusal; the charts stay on the
 * division shown before. window.geoDashboard exposes the state, the charts and the
 * ledgers read, for the browser tests.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const divisions = new Map(config.divisions.map((d) => [d.adcode, d]));
  const children = new Map();
  for (const d of config.divisions) {
    if (!d.parent) continue;
    if (!children.has(d.parent)) children.set(d.parent, []);
    children.get(d.parent).push(d);
  }
  const FONT = "GeoNotoSansSC";
  const INK = "#dfe9f5";
  const MUTED = "#8fa6c2";
  const LEVEL_ZH = { province: "省", city: "市", county: "县区" };
  const state = { jurisdiction: null, year: null, loading: null };
  const charts = {};
  const ledgers = {};
  const outlines = new Map();

  class Refused extends Error {
    constructor(status, body, adcode) {
      super((body && body.description) || "HTTP " + status);
      this.status = status;
      this.adcode = adcode;
    }
  }

  async function getJSON(path, adcode) {
    const answer = await fetch(path, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    let body = null;
    try {
      body = await answer.json();
    } catch (e) {
      body = null;
    }
    if (!answer.ok) throw new Refused(answer.status, body, adcode);
    return body;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    return q.toString();
  }

  function ledger(kind, groupBy, jurisdiction, period) {
    const path = `/stats/${kind}?` + query({ group_by: groupBy, jurisdiction, period });
    return getJSON(path, jurisdiction);
  }

  async function outline(adcode) {
    if (!outlines.has(adcode)) {
      const d = divisions.get(adcode);
      const which = d.level === "county" ? { adcode } : { parent_adcode: adcode };
      const path = "/collections/jurisdictions/items?" + query({ ...which, limit: "1000" });
      const doc = await getJSON(path, adcode);
      outlines.set(adcode, doc);
      echarts.registerMap("div-" + adcode, doc);
    }
    return "div-" + adcode;
  }

  // ------------------------------------------------------------------ loading a division

  async function show(adcode, year, keepNotices) {
    const target = divisions.get(adcode);
    if (!target) return;
    if (!keepNotices) clearNotices();
    document.body.dataset.state = "loading";
    const ticket = {};
    state.loading = ticket;
    try {
      const [caseYears, inspectionYears] = await Promise.all([
        ledger("cases", "year", adcode),
        ledger("inspections", "year", adcode),
      ]);
      const years = [...new Set([...rowsOf(caseYears, "year"), ...rowsOf(inspectionYears, "year")])]
        .filter(Boolean)
        .sort();
      const period = year && years.includes(year) ? year : years[years.length - 1] || null;
      const below = target.level === "province" ? "city" : "county";
      const [months, inspectionMonths, industries, problems, mapName, places] = await Promise.all([
        ledger("cases", "month", adcode, period),
        ledger("inspections", "month", adcode, period),
        ledger("cases", "industry", adcode, period),
        ledger("cases", "problem_type", adcode, period),
        outline(adcode),
        config.signed_in ? ledger("cases", below, adcode, period) : Promise.resolve(null),
      ]);
      if (state.loading !== ticket) return; // a later click won
      Object.assign(ledgers, {
        caseYears,
        inspectionYears,
        months,
        inspectionMonths,
        industries,
        problems,
        places,
      });
      state.jurisdiction = adcode;
      state.year = period;
      drawHeader(years);
      drawKpis(caseYears, inspectionYears, period);
      drawMonths(months, inspectionMonths, period);
      drawIndustries(industries);
      drawProblems(problems);
      drawMap(mapName, places, below);
      const url = "/dashboard?" + query({ jurisdiction: adcode, period });
      history.replaceState(null, "", url);
      document.body.dataset.jurisdiction = adcode;
      document.body.dataset.period = period || "";
      document.body.dataset.state = "ready";
    } catch (error) {
      if (state.loading !== ticket) return;
      if (!(error instanceof Refused)) throw error;
      refused(error, target);
      document.body.dataset.state = state.jurisdiction ? "ready" : "refused";
    }
  }

  function rowsOf(doc, column) {
    return doc.rows.map((r) => r[column]);
  }

  // ------------------------------------------------------------------ notices

  function clearNotices() {
    document.querySelector(".dash-notices").replaceChildren();
  }

  function notice(cls, html) {
    const box = document.createElement("div");
    box.className = "dash-notice " + cls;
    box.setAttribute("role", "alert");
    box.innerHTML = html;
    document.querySelector(".dash-notices").replaceChildren(box);
    return box;
  }

  function escapeHtml(text) {
    const span = document.createElement("span");
    span.textContent = String(text);
    return span.innerHTML;
  }

  function refused(error, target) {
    const name = escapeHtml(target.name);
    if (error.status === 401) {
      const next = "/dashboard?" + query({ jurisdiction: target.adcode, period: state.year });
      const box = notice(
        "dash-signin",
        `<b>查看${name}的数据需要登录。</b>未登录时只显示全省公开汇总（计数经随机扰动，` +
          "不含金额和比率）；市、县级数据请登录后查看。" +
          ` <a class="dash-signin-link" href="/login?next=${encodeURIComponent(next)}">` +
          "登录 Sign in</a><br><small>Sign in to see the figures of " +
          `${name}: without an account only the province's public aggregates are shown.` +
          "</small>",
      );
      addBack(box);
    } else if (error.status === 403) {
      const home = escapeHtml((divisions.get(config.home) || {}).name || config.home);
      const box = notice(
        "dash-refused",
        `<b>无权查看${name}：超出本账号的管辖范围。</b>本账号可查看${home}及其下级区划。` +
          `<br><small>${name} is outside your account's jurisdiction (${home} and ` +
          `below). ${escapeHtml(error.message)}</small>`,
      );
      addBack(box);
    } else {
      notice(
        "dash-error",
        `<b>数据加载失败（${error.status}）。</b>${escapeHtml(error.message)}`,
      );
    }
  }

  function addBack(box) {
    const shown = state.jurisdiction && divisions.get(state.jurisdiction);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "dash-back";
    if (shown) {
      button.textContent = `继续查看${shown.name} Stay at ${shown.name}`;
      button.addEventListener("click", () => {
        clearNotices();
        drawHeader(); // the picker back on the division shown
      });
    } else {
      const home = divisions.get(config.home);
      button.textContent = `查看${home.name} Show ${home.name}`;
      button.addEventListener("click", () => show(config.home, state.year));
    }
    box.append(" ", button);
  }

  // ------------------------------------------------------------------ header

  let knownYears = [];

  function drawHeader(years) {
    if (years) knownYears = years;
    const here = divisions.get(state.jurisdiction);
    const chain = [];
    for (let d = here; d; d = d.parent ? divisions.get(d.parent) : null) chain.unshift(d);
    const crumbs = document.querySelector(".dash-crumbs");
    crumbs.replaceChildren(
      ...chain.flatMap((d, i) => {
        const item = document.createElement(i === chain.length - 1 ? "b" : "a");
        item.textContent = d.name;
        item.dataset.adcode = d.adcode;
        if (item.tagName === "A") {
          item.href = "/dashboard?" + query({ jurisdiction: d.adcode, period: state.year });
          item.addEventListener("click", (event) => {
            event.preventDefault();
            show(d.adcode, state.year);
          });
        }
        return i ? [document.createTextNode(" › "), item] : [item];
      }),
    );
    const year = document.querySelector(".dash-year");
    year.replaceChildren(...knownYears.map((y) => new Option(y + " 年", y, false, y === state.year)));
    const child = document.querySelector(".dash-child");
    const below = children.get(state.jurisdiction) || [];
    const prompt = below.length ? "选择下级区划…" : "（已是最下级）";
    child.replaceChildren(
      new Option(prompt, "", true, true),
      ...below.map((d) => new Option(d.name, d.adcode)),
    );
    child.disabled = below.length === 0;
  }

  // ------------------------------------------------------------------ KPIs

  const KPI_FORMAT = {
    cases: (v) => v.toLocaleString("zh-CN"),
    penalty_sum: (v) => (v / 1e4).toLocaleString("zh-CN", { maximumFractionDigits: 1 }),
    execution_rate: (v) => (v * 100).toFixed(1) + "%",
    inspections: (v) => v.toLocaleString("zh-CN"),
    problems_found: (v) => v.toLocaleString("zh-CN"),
    problem_rate: (v) => (v * 100).toFixed(1) + "%",
  };
  const RATES = new Set(["execution_rate", "problem_rate"]);

  function drawKpis(caseYears, inspectionYears, year) {
    const previous = year ? String(Number(year) - 1) : null;
    const pick = (doc, y) => doc.rows.find((r) => r.year === y) || null;
    const rows = {
      now: { ...pick(caseYears, year), ...pick(inspectionYears, year) },
      before: { ...pick(caseYears, previous), ...pick(inspectionYears, previous) },
    };
    for (const card of document.querySelectorAll(".dash-kpi")) {
      const key = card.dataset.kpi;
      const value = rows.now[key];
      const valueBox = card.querySelector(".dash-kpi-value");
      const trendBox = card.querySelector(".dash-kpi-trend");
      trendBox.className = "dash-kpi-trend";
      delete card.dataset.trend;
      if (value === null || value === undefined) {
        const withheld = !config.signed_in && (key === "penalty_sum" || RATES.has(key));
        valueBox.textContent = withheld ? "登录后可见" : "0";
        card.dataset.value = withheld ? "" : "0";
        trendBox.textContent = withheld ? "公开视图不含金额和比率" : "";
        continue;
      }
      card.dataset.value = String(value);
      valueBox.textContent = KPI_FORMAT[key](value);
      const before = rows.before[key];
      if (before === null || before === undefined || (!RATES.has(key) && before === 0)) {
        trendBox.textContent = `${year} 年`;
        continue;
      }
      const change = RATES.has(key) ? (value - before) * 100 : ((value - before) / before) * 100;
      const unit = RATES.has(key) ? " 个百分点" : "%";
      trendBox.textContent = `较上年 ${change >= 0 ? "▲" : "▼"} ${Math.abs(change).toFixed(1)}${unit}`;
      trendBox.classList.add(change >= 0 ? "dash-up" : "dash-down");
      card.dataset.trend = change.toFixed(4);
    }
  }

  // ------------------------------------------------------------------ charts

  function chart(key) {
    if (!charts[key]) {
      const dom = document.getElementById("chart-" + key);
      charts[key] = echarts.init(dom, null, { renderer: "canvas", locale: "ZH" });
    }
    return charts[key];
  }

  const BASE = {
    textStyle: { fontFamily: FONT + ", sans-serif", color: INK },
    tooltip: { trigger: "axis", textStyle: { fontFamily: FONT } },
    animation: false,
  };
  const AXIS = {
    axisLine: { lineStyle: { color: MUTED } },
    axisLabel: { color: INK, fontFamily: FONT },
    splitLine: { lineStyle: { color: "rgba(143,166,194,0.2)" } },
  };

  function monthsOf(year) {
    return Array.from({ length: 12 }, (_, i) => `${year}-${String(i + 1).padStart(2, "0")}`);
  }

  function byKey(doc, column, value) {
    return new Map(doc.rows.map((r) => [r[column], r[value] || 0]));
  }

  function drawMonths(cases, inspections, year) {
    const months = year ? monthsOf(year) : [];
    const c = byKey(cases, "month", "cases");
    const i = byKey(inspections, "month", "inspections");
    const p = byKey(inspections, "month", "problems_found");
    chart("month").setOption(
      {
        ...BASE,
        legend: { textStyle: { color: INK, fontFamily: FONT }, top: 0 },
        grid: { left: 48, right: 16, top: 32, bottom: 28 },
        xAxis: { type: "category", data: months.map((m) => m.slice(5) + "月"), ...AXIS },
        yAxis: { type: "value", minInterval: 1, ...AXIS },
        series: [
          { name: "处罚案件", type: "bar", data: months.map((m) => c.get(m) || 0), color: "#f2b134" },
          { name: "现场检查", type: "line", data: months.map((m) => i.get(m) || 0), color: "#3fa7f5" },
          {
            name: "发现问题",
            type: "line",
            data: months.map((m) => p.get(m) || 0),
            color: "#ef6f6c",
          },
        ],
      },
      true,
    );
  }

  function drawIndustries(doc) {
    const rows = doc.rows
      .filter((r) => r.cases > 0)
      .sort((a, b) => b.cases - a.cases || String(a.industry).localeCompare(String(b.industry)))
      .slice(0, 10)
      .reverse(); // the largest on top
    const names = rows.map((r) => (r.industry_name ? `${r.industry_name} ${r.industry}` : r.industry || "未注明"));
    chart("industry").setOption(
      {
        ...BASE,
        tooltip: { ...BASE.tooltip, axisPointer: { type: "shadow" } },
        grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
        xAxis: { type: "value", minInterval: 1, ...AXIS },
        yAxis: {
          type: "category",
          data: names,
          ...AXIS,
          axisLabel: { ...AXIS.axisLabel, width: 170, overflow: "truncate" },
        },
        series: [
          {
            name: "处罚案件",
            type: "bar",
            data: rows.map((r) => r.cases),
            color: "#3fa7f5",
            label: { show: true, position: "right", color: INK, fontFamily: FONT },
          },
        ],
      },
      true,
    );
  }

  function drawProblems(doc) {
    const rows = doc.rows
      .filter((r) => r.cases > 0)
      .sort((a, b) => b.cases - a.cases || String(a.problem_type).localeCompare(String(b.problem_type)));
    chart("problem").setOption(
      {
        ...BASE,
        tooltip: { trigger: "item", textStyle: { fontFamily: FONT }, formatter: "{b}<br>{c} 件（{d}%）" },
        series: [
          {
            name: "问题类型",
            type: "pie",
            radius: ["35%", "65%"],
            center: ["50%", "52%"],
            data: rows.map((r) => ({ name: r.problem_type || "未分类", value: r.cases })),
            label: {
              color: INK,
              fontFamily: FONT,
              formatter: (p) => p.name.split("：")[0],
            },
          },
        ],
      },
      true,
    );
  }

  function drawMap(mapName, places, below) {
    const doc = outlines.get(state.jurisdiction);
    const column = below === "city" ? "city" : "county";
    const values = places ? byKey(places, column, "cases") : new Map();
    const data = doc.features.map((f) => ({
      name: f.properties.name,
      adcode: f.properties.adcode,
      value: places ? values.get(f.properties.name) || 0 : null,
    }));
    const max = Math.max(1, ...data.map((d) => d.value || 0));
    // records placed at this level only (a city-precision case has no county)
    const unplaced = places ? places.rows.filter((r) => !r[column]).reduce((n, r) => n + r.cases, 0) : 0;
    const map = chart("map");
    map.setOption(
      {
        ...BASE,
        title: {
          text: unplaced ? `另有 ${unplaced} 件只定位到本级，未计入下级区划` : "",
          right: 8,
          bottom: 8,
          textStyle: { color: MUTED, fontFamily: FONT, fontSize: 11, fontWeight: "normal" },
        },
        tooltip: {
          trigger: "item",
          textStyle: { fontFamily: FONT },
          formatter: (p) =>
            places
              ? `${p.name}<br>处罚案件 ${p.value || 0} 件`
              : `${p.name}<br>登录后可查看${LEVEL_ZH[below === "city" ? "city" : "county"]}级数据`,
        },
        visualMap: places
          ? {
              min: 0,
              max,
              left: 8,
              bottom: 8,
              text: ["多", "少"],
              calculable: false,
              inRange: { color: ["#1d4e89", "#3fa7f5", "#f2b134", "#ef6f6c"] },
              textStyle: { color: INK, fontFamily: FONT },
            }
          : undefined,
        geo: {
          map: mapName,
          roam: false,
          layoutCenter: ["50%", "50%"],
          layoutSize: "95%",
          label: { show: true, color: INK, fontFamily: FONT, fontSize: 11 },
          itemStyle: { areaColor: "#1d3b66", borderColor: "#8fb8e6" },
          emphasis: { label: { color: "#fff" }, itemStyle: { areaColor: "#2f6db3" } },
          select: { disabled: true },
        },
        series: [{ type: "map", geoIndex: 0, name: "处罚案件", data }],
      },
      true,
    );
  }

  function drillFromMap(params) {
    const hit = (children.get(state.jurisdiction) || []).find((d) => d.name === params.name);
    if (hit) show(hit.adcode, state.year);
  }

  /** Where a division's representative point is on the map (for tests and keyboards). */
  function pixelOf(lon, lat) {
    const box = document.getElementById("chart-map").getBoundingClientRect();
    const [x, y] = charts.map.convertToPixel({ geoIndex: 0 }, [lon, lat]);
    return [box.left + x, box.top + y];
  }

  // ------------------------------------------------------------------ start

  async function start() {
    await document.fonts.load(`12px ${FONT}`); // the @font-face of dashboard.css: canvas
    // text is drawn in it only once it is there
    chart("map").on("click", drillFromMap);
    document.querySelector(".dash-child").addEventListener("change", (event) => {
      if (event.target.value) show(event.target.value, state.year);
    });
    document.querySelector(".dash-year").addEventListener("change", (event) => {
      show(state.jurisdiction, event.target.value);
    });
    window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
    const asked = new URLSearchParams(location.search).get("period");
    await show(config.start, asked);
    if (!state.jurisdiction && config.start !== config.home) {
      await show(config.home, asked, true); // refused: the caller's own, the notice kept
    }
  }

  window.geoDashboard = { config, state, charts, ledgers, show, pixelOf };
  start();
})();
