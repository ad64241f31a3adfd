/*
 * Behaviour of the enforcement maps built by layers/maps.py: the filter picker, the
 * month slider, legends, popups and place names. Every request goes to this service
 * (tiles, legends, cell profiles); nothing here reaches the internet.
 *
 *   GeoMaps.vectorOptions(spec)      options of an L.vectorGrid.protobuf layer
 *   GeoMaps.init(map, config, refs)  wires the controls; refs maps layer ids to layers
 */
(function (global) {
  "use strict";

  /* The service's filters, in the order its URLs carry them: each page's configuration
     names them (filter_names, from geo_service.core.filters), set by GeoMaps.init. */
  var FILTERS = [];

  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  function number(value, digits) {
    if (value === null || value === undefined || value === "") { return "—"; }
    var n = Number(value);
    if (!isFinite(n)) { return esc(value); }
    return n.toLocaleString("zh-CN", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function el(tag, className, html) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (html !== undefined) { node.innerHTML = html; }
    return node;
  }

  /* The query string of a layer: its own parameters first, then the filters in a fixed
     order (layers/maps.py builds the first URLs the same way). */
  function query(params, filters) {
    var q = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) { q.set(k, params[k]); });
    FILTERS.forEach(function (k) { if (filters && filters[k]) { q.set(k, filters[k]); } });
    var text = q.toString();
    return text ? "?" + text : "";
  }

  /* ---- styles of vector tiles ---------------------------------------------------- */

  function classColour(spec, value) {
    var v = Number(value);
    if (!(v > 0)) { return null; }
    var colour = spec.colours[0];
    for (var i = 0; i < spec.breaks.length; i++) {
      if (v >= spec.breaks[i]) { colour = spec.colours[i]; }
    }
    return colour;
  }

  var STYLES = {
    boundaries: function (spec) {
      var widths = { province: 2.4, city: 1.4, county: 0.6 };
      return function (p) {
        return { fill: false, stroke: true, color: p.level === "county" ? "#8a8a8a" : "#3d3d3d",
          weight: widths[p.level] || 0.6, opacity: 0.9, interactive: false,
          dashArray: p.level === "county" ? "3 3" : null, className: "geo-boundary" };
      };
    },
    classes: function (spec) {
      return function (p) {
        var colour = classColour(spec, p[spec.field]);
        return { fill: true, fillColor: colour || spec.zero, fillOpacity: colour ? 0.78 : 0.2,
          stroke: true, color: "#777", weight: 0.3, opacity: 0.6, className: spec.className };
      };
    },
    categories: function (spec) {
      return function (p) {
        var colour = spec.colours[String(p[spec.field])] || spec.zero;
        return { fill: true, fillColor: colour, fillOpacity: spec.opacity || 0.78, stroke: true,
          color: "#777", weight: 0.3, opacity: 0.6, className: spec.className };
      };
    },
    outline: function (spec) {  // areas drawn as outlines only (priority areas over risk)
      return function (p, zoom) {
        return { fill: true, fillOpacity: 0, stroke: true, color: spec.stroke || "#7a0177",
          weight: zoom < 10 ? 3 : 2, opacity: 0.95, className: spec.className };
      };
    },
    areas: function (spec) {
      return function (p, zoom) {  // small areas: a thick outline keeps them visible zoomed out
        var colour = classColour(spec, p[spec.field]) || spec.colours[0];
        return { fill: true, fillColor: colour, fillOpacity: 0.55, stroke: true,
          color: spec.stroke || "#7a0177", weight: zoom < 10 ? 4 : 1.2, opacity: 0.9,
          className: spec.className };
      };
    },
    /* Point records: a small dot each; in a tile holding more records than the service's
       cap, its aggregated points (aggregated: true) are circles whose area grows with count. */
    points: function (spec) {
      return function (p, zoom) {
        if (p.aggregated) {
          return { radius: aggregateRadius(p.count), fill: true, fillColor: spec.aggregateColour,
            fillOpacity: 0.7, stroke: true, color: "#ffffff", weight: 1, opacity: 0.9,
            className: spec.aggregateClass };
        }
        return { radius: zoom < 12 ? 2.5 : 4, fill: true, fillColor: spec.colour,
          fillOpacity: 0.9, stroke: true, color: "#ffffff", weight: 0.8, opacity: 0.9,
          className: spec.className };
      };
    }
  };

  /* Radius (px) of an aggregated point: 2.5 px for one record, 1.5 px more each time the
     count doubles, at most 12 px (10 records: 7.5 px, 100: 12 px). */
  function aggregateRadius(count) {
    var n = Math.max(1, Number(count) || 1);
    return Math.min(12, 2.5 + 1.5 * Math.log(n) / Math.LN2);
  }

  /* Leaflet.VectorGrid 1.3's point symbolizers inherit getLatLng from L.CircleMarker with no
     position behind it, so Leaflet takes a circle of radius ≤ 10 px for a marker and throws on
     a click or hover (VectorGrid issue #148, fixed upstream by PR #157 after that release).
     Without getLatLng the event is placed at the pointer, as for polygons. */
  if (L.VectorGrid && L.VectorGrid.prototype._createLayer) {
    var createLayer = L.VectorGrid.prototype._createLayer;
    L.VectorGrid.prototype._createLayer = function (feat, pxPerExtent, layerStyle) {
      var layer = createLayer.call(this, feat, pxPerExtent, layerStyle);
      if (feat.type === 1) { layer.getLatLng = null; }
      return layer;
    };
  }

  function vectorOptions(spec) {
    var styles = {};
    styles[spec.layer] = STYLES[spec.style](spec);
    var options = { rendererFactory: L.svg.tile, interactive: !!spec.interactive,
      vectorTileLayerStyles: styles, maxNativeZoom: 14 };
    if (spec.bounds) { options.bounds = L.latLngBounds(spec.bounds); }
    if (spec.zIndex) { options.zIndex = spec.zIndex; }
    return options;
  }

  /* ---- the page ------------------------------------------------------------------ */

  function GeoMap(map, config, refs) {
    this.map = map;
    this.config = config;
    FILTERS = config.filter_names || [];
    this.refs = refs;
    this.filters = Object.assign({}, config.filters);
    this.resolution = config.resolution ? String(config.resolution.value) : null;
    this.selects = {};
    map.attributionControl.setPrefix("Leaflet");
    this.addLabels();
    this.addPicker();
    if (config.time) { this.addSlider(); }
    this.addLegend();
    this.bindPopups();
    map.on("zoomend", this.onZoom, this);
    this.onZoom();
    if (!this.state) { this.apply(); }  // the URLs the page was built with, checked once
  }

  GeoMap.prototype.layerParams = function (layer) {
    var params = Object.assign({}, layer.params);
    var res = this.config.resolution;
    if (res && res.layer === layer.id) {
      params.resolution = this.resolution === "auto" ? this.autoResolution() : this.resolution;
    }
    return params;
  };

  GeoMap.prototype.autoResolution = function () {
    var auto = this.config.resolution.auto;  // resolution = zoom + offset, within min … max
    var r = this.map.getZoom() + auto.offset;
    return String(Math.max(auto.min, Math.min(auto.max, r)));
  };

  GeoMap.prototype.layerUrl = function (layer) {
    var filters = layer.filtered ? this.filters : {};
    return layer.path + query(this.layerParams(layer), filters);
  };

  /* Point every filtered layer at the current filters (only those whose URL changed). */
  GeoMap.prototype.apply = function () {
    var self = this;
    var state = JSON.stringify([this.filters, this.config.layers.map(function (layer) {
      return self.layerUrl(layer);
    })]);
    if (state === this.state) { return; }
    this.state = state;
    this.map.closePopup();  // its figures were for the previous filters
    this.config.layers.forEach(function (layer) {
      var ref = self.refs[layer.id];
      var url = self.layerUrl(layer);
      if (layer.legend) { return; }  // set once its legend says there is a surface
      if (ref && ref._url !== url) { ref.setUrl(url); }
    });
    this.refreshLegend();
    var shown = Object.assign({}, this.filters);
    if (global.history && global.history.replaceState) {
      global.history.replaceState(null, "", global.location.pathname + query({}, shown));
    }
  };

  GeoMap.prototype.onZoom = function () {
    var container = this.map.getContainer();
    var zoom = this.map.getZoom();
    L.DomUtil[zoom < 9 ? "addClass" : "removeClass"](container, "geo-hide-county");
    L.DomUtil[zoom < 6 ? "addClass" : "removeClass"](container, "geo-hide-city");
    if (this.resolution === "auto") { this.apply(); }
  };

  /* ---- place names --------------------------------------------------------------- */

  GeoMap.prototype.addLabels = function () {
    var group = L.layerGroup();
    this.config.jurisdictions.forEach(function (j) {
      if (j.level === "province" || !j.point) { return; }
      var icon = L.divIcon({ className: "geo-label geo-" + j.level, html: esc(j.name),
        iconSize: null });
      L.marker([j.point[1], j.point[0]], { icon: icon, interactive: false, keyboard: false })
        .addTo(group);
    });
    group.addTo(this.map);
    if (this.refs._control) { this.refs._control.addOverlay(group, "地名 Place names"); }
  };

  /* ---- picker -------------------------------------------------------------------- */

  function option(value, label, selected) {
    return '<option value="' + esc(value) + '"' + (selected ? " selected" : "") + ">" +
      esc(label) + "</option>";
  }

  GeoMap.prototype.jurisdictionOptions = function () {
    var current = this.filters.jurisdiction || "";
    var list = this.config.jurisdictions;
    var html = option("", "全区 All of the region", !current);
    list.filter(function (j) { return j.level === "city"; }).forEach(function (city) {
      html += '<optgroup label="' + esc(city.name) + '">';
      html += option(city.adcode, city.name + "（全市）", current === city.adcode);
      list.filter(function (j) { return j.parent === city.adcode; }).forEach(function (c) {
        html += option(c.adcode, c.name, current === c.adcode);
      });
      html += "</optgroup>";
    });
    return html;
  };

  GeoMap.prototype.industryOptions = function () {
    var current = this.filters.industry || "";
    var html = option("", "全部行业 All industries", !current);
    this.config.industries.forEach(function (group) {
      html += '<optgroup label="' + esc(group.label) + '">';
      html += option(group.code, group.code + " 全部", current === group.code);
      group.classes.forEach(function (c) { html += option(c[0], c[1], current === c[0]); });
      html += "</optgroup>";
    });
    return html;
  };

  GeoMap.prototype.periodOptions = function () {
    var current = this.filters.period || "";
    var groups = { year: "年 Year", quarter: "季度 Quarter", month: "月 Month" };
    var html = option("", "全部时期 All periods", !current);
    var periods = this.config.periods;
    Object.keys(groups).forEach(function (kind) {
      var items = periods.filter(function (p) {
        return kind === "year" ? p.length === 4 : kind === "quarter" ? p.indexOf("Q") > 0 :
          p.length === 7 && p.indexOf("Q") < 0;
      });
      if (!items.length) { return; }
      html += '<optgroup label="' + groups[kind] + '">';
      items.forEach(function (p) { html += option(p, p, current === p); });
      html += "</optgroup>";
    });
    return html;
  };

  GeoMap.prototype.addSelect = function (div, name, label, html, onChange) {
    var wrap = el("label", null, esc(label));
    var select = el("select", "geo-" + name, html);
    select.name = name;
    select.addEventListener("change", onChange);
    wrap.appendChild(select);
    div.appendChild(wrap);
    this.selects[name] = select;
  };

  GeoMap.prototype.addPicker = function () {
    var self = this;
    var config = this.config;
    var picker = L.control({ position: "topleft" });
    picker.onAdd = function () {
      var div = el("div", "geo-panel geo-picker");
      div.appendChild(el("h1", null, esc(config.title)));
      div.appendChild(el("p", "geo-sub", esc(config.subtitle) +
        ' · <a href="' + esc(config.home) + '">首页 Home</a>'));
      var filterChange = function (event) {
        self.filters[event.target.name] = event.target.value;
        if (event.target.name === "jurisdiction") { self.fitJurisdiction(); }
        if (event.target.name === "period") { self.syncSlider(); }
        self.apply();
      };
      self.addSelect(div, "jurisdiction", "辖区 Jurisdiction", self.jurisdictionOptions(),
        filterChange);
      self.addSelect(div, "industry", "行业 Industry (GB/T 4754)", self.industryOptions(),
        filterChange);
      if (config.periods.length) {
        self.addSelect(div, "period", "时期 Period", self.periodOptions(), filterChange);
      }
      if (config.resolution) { self.addResolution(div); }
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    picker.addTo(this.map);
  };

  GeoMap.prototype.addResolution = function (div) {
    var self = this;
    var html = "";
    this.config.resolution.choices.forEach(function (r) {
      var label = r === "auto" ? "自动（随缩放）Auto" : "H3 分辨率 " + r;
      html += option(r, label, String(r) === self.resolution);
    });
    this.addSelect(div, "resolution", "六边形大小 Hexagon size", html, function (event) {
      self.resolution = event.target.value;
      self.apply();
    });
  };

  GeoMap.prototype.fitJurisdiction = function () {
    var code = this.filters.jurisdiction;
    var bbox = this.config.bounds;
    this.config.jurisdictions.forEach(function (j) { if (j.adcode === code) { bbox = j.bbox; } });
    this.map.fitBounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]]);
  };

  /* ---- month slider -------------------------------------------------------------- */

  GeoMap.prototype.addSlider = function () {
    var self = this;
    var time = this.config.time;
    var control = L.control({ position: "bottomleft" });
    control.onAdd = function () {
      var div = el("div", "geo-panel geo-slider");
      div.appendChild(el("h2", null, esc(time.title)));
      self.playButton = el("button", "geo-play", "▶ 播放");
      self.playButton.type = "button";
      self.allButton = el("button", "geo-all", "全部");
      self.allButton.type = "button";
      self.range = el("input", "geo-range");
      self.range.type = "range";
      self.range.min = "0";
      self.range.max = String(time.steps.length - 1);
      self.range.step = "1";
      self.range.value = "0";
      self.monthLabel = el("span", "geo-month", "全部");
      [self.playButton, self.allButton, self.range, self.monthLabel].forEach(function (n) {
        div.appendChild(n);
      });
      self.range.addEventListener("input", function () { self.showStep(); });
      self.range.addEventListener("change", function () { self.setStep(+self.range.value); });
      self.playButton.addEventListener("click", function () { self.togglePlay(); });
      self.allButton.addEventListener("click", function () { self.setStep(null); });
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    control.addTo(this.map);
    this.syncSlider();
  };

  GeoMap.prototype.showStep = function () {
    this.monthLabel.textContent = this.config.time.steps[+this.range.value][0];
  };

  /* Show step i (null: all periods) and redraw the layers. */
  GeoMap.prototype.setStep = function (i) {
    var time = this.config.time;
    this.filters[time.param] = i === null ? "" : time.steps[i][1];
    if (i === null) { this.stop(); }
    if (time.param === "period" && this.selects.period) {
      this.selects.period.value = this.filters.period;
    }
    this.syncSlider();
    this.apply();
  };

  GeoMap.prototype.syncSlider = function () {
    if (!this.range) { return; }
    var time = this.config.time;
    var current = this.filters[time.param] || "";
    var index = -1;
    time.steps.forEach(function (s, i) { if (s[1] === current) { index = i; } });
    if (index >= 0) {
      this.range.value = String(index);
      this.showStep();
    } else {
      this.monthLabel.textContent = current ? current : "全部";
    }
  };

  GeoMap.prototype.togglePlay = function () {
    if (this.timer) { this.stop(); return; }
    var self = this;
    this.playButton.textContent = "⏸ 暂停";
    this.timer = global.setInterval(function () {
      var next = self.filters[self.config.time.param] ? +self.range.value + 1 : 0;
      if (next >= self.config.time.steps.length) { self.stop(); return; }
      self.setStep(next);
    }, this.config.time.interval_ms);
  };

  GeoMap.prototype.stop = function () {
    if (this.timer) { global.clearInterval(this.timer); }
    this.timer = null;
    if (this.playButton) { this.playButton.textContent = "▶ 播放"; }
  };

  /* ---- legend -------------------------------------------------------------------- */

  GeoMap.prototype.addLegend = function () {
    var self = this;
    var control = L.control({ position: "bottomright" });
    control.onAdd = function () {
      self.legendDiv = el("div", "geo-panel geo-legend");
      return self.legendDiv;
    };
    control.addTo(this.map);  // filled by apply()
  };

  function legendRows(title, classes, note) {
    var html = "<h2>" + esc(title) + "</h2>";
    classes.forEach(function (c) {
      html += '<div class="geo-row"><i style="background:' + esc(c.colour) + ";opacity:" +
        (c.opacity === undefined ? 1 : c.opacity) + '"></i>' + esc(c.label) + "</div>";
    });
    if (note) { html += '<div class="geo-note">' + esc(note) + "</div>"; }
    return html;
  }

  GeoMap.prototype.refreshLegend = function () {
    var legend = this.config.legend;
    if (!this.legendDiv) { return; }
    if (legend.kind === "classes") {
      this.legendDiv.innerHTML = legendRows(legend.title, legend.classes, legend.note);
      return;
    }
    this.refreshSurfaceLegend(legend);
  };

  /* The heat legend comes from the service for the current filters; the heat tiles are
     pointed at the filters only when there is a surface (no case: no tiles asked for). */
  GeoMap.prototype.refreshSurfaceLegend = function (legend) {
    var self = this;
    var layer = this.config.layers.filter(function (l) { return l.id === legend.layer; })[0];
    var ref = this.refs[layer.id];
    var url = legend.path + query(this.layerParams(layer), this.filters);
    var token = (this.legendToken || 0) + 1;
    this.legendToken = token;
    fetch(url).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (doc) {
      if (token !== self.legendToken) { return; }
      if (!doc) {
        ref.setUrl(L.Util.emptyImageUrl);
        self.legendDiv.innerHTML = legendRows(legend.title, [], "该条件下没有案件 No cases match");
        return;
      }
      var classes = doc.classes.map(function (c) {
        var from = Math.abs(c.from) < 0.01 ? Number(c.from).toPrecision(2) : number(c.from, 3);
        return { colour: c.colour, opacity: c.opacity, label: "≥ " + from };
      }).reverse();
      self.legendDiv.innerHTML = legendRows(doc.title || legend.title, classes, legend.note);
      var tiles = self.layerUrl(layer);
      if (ref._url !== tiles) { ref.setUrl(tiles); }
    }).catch(function () {
      self.legendDiv.innerHTML = legendRows(legend.title, [], "图例加载失败 Legend unavailable");
    });
  };

  /* ---- popups -------------------------------------------------------------------- */

  function fieldRows(fields, props, labels) {
    var html = "";
    fields.forEach(function (f) {
      var value = props[f[0]];
      var shown = f[2] === "class" ? esc(labels[String(value)] || value) :
        f[2] === "text" ? esc(value) :
        f[2] === "p" && Number(value) < 0.001 ? "&lt; 0.001" :
        number(value, f[2] === "int" ? 0 : 3);
      html += "<tr><th>" + esc(f[1]) + "</th><td>" + shown + "</td></tr>";
    });
    return html;
  }

  function topList(title, rows) {
    if (!rows || !rows.length) { return ""; }
    var html = "<div>" + esc(title) + "</div><ol>";
    rows.forEach(function (r) { html += "<li>" + esc(r[0]) + "（" + number(r[1], 0) + "）</li>"; });
    return html + "</ol>";
  }

  function parseList(value) {
    try { return typeof value === "string" ? JSON.parse(value) : value; } catch (e) { return []; }
  }

  GeoMap.prototype.classLabels = function () {
    var labels = {};
    (this.config.legend.classes || []).forEach(function (c) { labels[String(c.value)] = c.label; });
    return labels;
  };

  GeoMap.prototype.bindPopups = function () {
    var self = this;
    this.config.layers.forEach(function (layer) {
      var ref = self.refs[layer.id];
      if (!layer.popup || !ref) { return; }
      ref.on("click", function (e) {
        var props = e.layer && e.layer.properties ? e.layer.properties : {};
        if (layer.popup === "cell") { self.cellPopup(layer, props, e.latlng); return; }
        var aggregated = props.aggregated && layer.aggregate;  // a crowded tile's aggregate
        var title = aggregated ? layer.aggregate.title : layer.title;
        var fields = aggregated ? layer.aggregate.fields : layer.fields || [];
        var html = '<div class="geo-popup"><h3>' + esc(title) + "</h3><table>" +
          fieldRows(fields, props, self.classLabels()) + "</table>";
        if (aggregated) { html += '<div class="geo-note">' + esc(layer.aggregate.note) + "</div>"; }
        (layer.lists || []).forEach(function (l) {
          html += topList(l[1], parseList(props[l[0]]));
        });
        if (layer.link && !aggregated && props[layer.link[0]]) {  // the record's enterprise file
          var href = layer.link[2] + encodeURIComponent(props[layer.link[0]]) + ".html";
          html += '<div class="geo-link"><a href="' + esc(href) + '" target="_blank" rel="noopener">' +
            esc(layer.link[1]) + "</a></div>";
        }
        L.popup({ maxWidth: 360, maxHeight: 340 }).setLatLng(e.latlng).setContent(html + "</div>")
          .openOn(self.map);
      });
    });
  };

  GeoMap.prototype.cellPopup = function (layer, props, latlng) {
    var self = this;
    var popup = L.popup({ maxWidth: 360, maxHeight: 340 }).setLatLng(latlng)
      .setContent('<div class="geo-popup">加载中… Loading</div>').openOn(this.map);
    var head = '<div class="geo-popup"><h3>' + esc(layer.title) + "</h3>" +
      "<div>H3 " + esc(props.h3) + "</div><table>" +
      fieldRows(layer.fields || [], props, this.classLabels());
    fetch(this.config.cell_path + encodeURIComponent(props.h3) + query({}, this.filters))
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (cell) {
        if (!cell) {
          popup.setContent(head + '</table><div class="geo-note">明细不可用 No details</div></div>');
          return;
        }
        var rows = [["cases", "案件数 Cases", "int"], ["inspections", "现场检查 Inspections", "int"],
          ["problems_found", "发现问题 Problems found", "int"],
          ["penalty_sum", "罚款合计（元）Penalties (yuan)", "money"]];
        popup.setContent(head + fieldRows(rows, cell, {}) + "</table>" +
          topList("主要问题类型 Top problem types", cell.top_problem_types) +
          topList("主要企业 Top enterprises (cases)", cell.top_enterprises) + "</div>");
      })
      .catch(function () { popup.setContent(head + "</table></div>"); });
  };

  global.GeoMaps = {
    vectorOptions: vectorOptions,
    query: query,
    init: function (map, config, refs) {
      var page = new GeoMap(map, config, refs);
      global.geoMap = page;  // for the browser checks and for the curious
      return page;
    }
  };
})(window);
