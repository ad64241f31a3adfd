/*
 * Behaviour of the enforcement maps built by layers/maps.py: the filter picker, the
 * month slider, legends, popups, place names and the metric scale. Every request goes to
 * this service (tiles, legends, cell profiles); nothing here reaches the internet.
 *
 * A visitor without an account who picks a city or county, and a page whose log-in
 * session has ended (any data request answered 401), get a sign-in prompt in place of
 * the map: no tile is asked for that would be refused.
 *
 * A map file (config.file, GET /maps/{name}/file) holds its layers as GeoJSON or an
 * image in the page itself: its filters are fixed, nothing is fetched.
 *
 *   GeoMaps.vectorOptions(spec)      options of an L.vectorGrid.protobuf layer
 *   GeoMaps.geojson(data, spec)      an L.geoJSON layer drawn as vectorOptions would
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

  /* The same styles for GeoJSON in a map file: each feature styled from its properties
     at the map's zoom (restyled as it changes, see GeoMap.restyle). */
  function geojson(data, spec) {
    var style = STYLES[spec.style](spec);
    var layer;
    var zoom = function () { return layer && layer._map ? layer._map.getZoom() : 7; };
    layer = L.geoJSON(data, {
      interactive: !!spec.interactive,
      style: function (feature) { return style(feature.properties, zoom()); },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, style(feature.properties, zoom()));
      }
    });
    layer.geoRestyle = function () {
      layer.eachLayer(function (f) { f.setStyle(style(f.feature.properties, zoom())); });
    };
    return layer;
  }

  /* Every fetch of the page: an answer 401 (no account, or the session ended) turns the
     page to its sign-in prompt, which stops the layers asking for more. */
  function guardFetch(page) {
    var original = global.fetch;
    if (!original || original.geoGuarded) { return; }
    var guarded = function () {
      return original.apply(global, arguments).then(function (response) {
        if (response.status === 401) { page.unauthorized(); }
        return response;
      });
    };
    guarded.geoGuarded = true;
    global.fetch = guarded;
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
    this.levels = {};
    var levels = this.levels;
    config.jurisdictions.forEach(function (j) { levels[j.adcode] = j.level; });
    map.attributionControl.setPrefix("Leaflet");
    L.control.scale({ imperial: false }).addTo(map);  // metres and kilometres only
    if (!config.file) { guardFetch(this); }
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

  /* Is a city or county picked without an account? The service answers 401 below
     province level. */
  GeoMap.prototype.belowProvince = function () {
    var code = this.filters.jurisdiction;
    return !this.config.account && !!code && this.levels[code] !== "province";
  };

  /* Would the layers be refused? Below province without an account, once the session
     has ended, or after a 401 for these filters. */
  GeoMap.prototype.needsAccount = function () {
    return this.expired || this.refused || this.belowProvince();
  };

  /* Point every filtered layer at the current filters (only those whose URL changed);
     the sign-in prompt instead where they would be refused. */
  GeoMap.prototype.apply = function () {
    var self = this;
    if (this.config.file) { this.refreshLegend(); return; }  // fixed filters, inline data
    this.updateFileLink();
    if (this.needsAccount()) { this.showSignIn(); return; }
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
    this.hideSignIn();  // the layers come back pointed at the filters
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
    if (this.config.file) { this.restyle(); return; }
    if (this.resolution === "auto") { this.apply(); }
  };

  /* A map file's GeoJSON layers: styles that depend on the zoom, redone. */
  GeoMap.prototype.restyle = function () {
    var refs = this.refs;
    Object.keys(refs).forEach(function (k) { if (refs[k] && refs[k].geoRestyle) { refs[k].geoRestyle(); } });
  };

  /* ---- sign-in prompt ------------------------------------------------------------ */

  /* The data layers (the boundaries, served to everyone, stay). */
  GeoMap.prototype.dataLayers = function () {
    var self = this;
    return this.config.layers.map(function (l) { return self.refs[l.id]; })
      .concat(this.refs.draw ? [this.refs.draw] : [])
      .filter(function (ref) { return !!ref; });
  };

  GeoMap.prototype.signInHref = function () {
    var here = global.location.pathname + query({}, this.filters);
    return this.config.login + "?next=" + encodeURIComponent(here);
  };

  /* In place of the map: why it is empty and a link to log in that comes back here. The
     data layers leave the map (no more tiles asked for) and the legend is hidden. */
  GeoMap.prototype.showSignIn = function () {
    var self = this;
    this.map.closePopup();
    if (!this.hiddenLayers) {
      this.hiddenLayers = this.dataLayers().filter(function (ref) { return self.map.hasLayer(ref); });
      this.hiddenLayers.forEach(function (ref) { self.map.removeLayer(ref); });
    }
    this.state = null;  // redraw when the prompt goes
    if (this.legendDiv) { this.legendDiv.style.display = "none"; }
    var text = this.expired ?
      "登录已过期或已退出，请重新登录后查看。<br>Your session has ended: log in again to see the map." :
      this.belowProvince() ? "查看市、县（区）级数据需要登录。<br>Log in to see a city or county." :
      "查看这些数据需要登录。<br>Log in to see these data.";
    if (!this.signIn) {
      this.signIn = el("div", "geo-signin");
      L.DomEvent.disableClickPropagation(this.signIn);
      L.DomEvent.disableScrollPropagation(this.signIn);
      this.map.getContainer().appendChild(this.signIn);
    }
    this.signIn.innerHTML = '<div class="geo-signin-box"><p>' + text + '</p><a class="geo-login" href="' +
      esc(this.signInHref()) + '">登录 Log in</a>' +
      (this.expired ? "" : '<p class="geo-note">或选择全区查看公开的统计 Or pick the whole region ' +
      "for the public view</p>") + "</div>";
    this.signIn.style.display = "";
  };

  GeoMap.prototype.hideSignIn = function () {
    var self = this;
    if (this.signIn) { this.signIn.style.display = "none"; }
    if (this.legendDiv) { this.legendDiv.style.display = ""; }
    (this.hiddenLayers || []).forEach(function (ref) { ref.addTo(self.map); });
    this.hiddenLayers = null;
  };

  /* A data request answered 401: the session has ended, or (without an account) these
     filters need one; the prompt stays until the filters change. */
  GeoMap.prototype.unauthorized = function () {
    if (this.config.account) { this.expired = true; } else { this.refused = true; }
    this.stop();
    this.showSignIn();
  };

  /* ---- the map file link --------------------------------------------------------- */

  GeoMap.prototype.updateFileLink = function () {
    if (!this.fileLink) { return; }
    var res = this.config.resolution;
    var params = {};
    if (res) {
      params.resolution = this.resolution === "auto" ? this.autoResolution() : this.resolution;
    }
    this.fileLink.href = this.config.file_path + query(params, this.filters);
    this.fileLink.parentNode.style.display = this.needsAccount() ? "none" : "";  // it would 401
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
      if (config.file) {
        div.appendChild(el("p", "geo-sub", esc(config.subtitle)));
        div.appendChild(el("table", "geo-fixed", self.fixedFilters()));
        div.appendChild(el("p", "geo-note", esc(config.file.note)));
        return div;
      }
      div.appendChild(el("p", "geo-sub", esc(config.subtitle) +
        ' · <a href="' + esc(config.home) + '">首页 Home</a>'));
      var filterChange = function (event) {
        self.filters[event.target.name] = event.target.value;
        self.refused = false;  // new filters: asked again (an ended session stays ended)
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
      if (config.file_path) {
        var p = el("p", "geo-download");
        self.fileLink = el("a", null, "下载地图文件 Download map file (HTML)");
        self.fileLink.setAttribute("download", "");
        p.appendChild(self.fileLink);
        div.appendChild(p);
        self.updateFileLink();
      }
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    picker.addTo(this.map);
  };

  /* What a map file was cut for: its jurisdiction, industry, period and hexagon size. */
  GeoMap.prototype.fixedFilters = function () {
    var f = this.filters;
    var place = "全区 All of the region";
    this.config.jurisdictions.forEach(function (j) { if (j.adcode === f.jurisdiction) { place = j.name; } });
    var industry = f.industry || "全部行业 All industries";
    this.config.industries.forEach(function (g) {
      if (g.code === f.industry) { industry = g.label; }
      g.classes.forEach(function (c) { if (c[0] === f.industry) { industry = c[1]; } });
    });
    var rows = [["辖区 Jurisdiction", place], ["行业 Industry", industry],
      ["时期 Period", f.period || (f.end ? "截至 " + f.end : "全部时期 All periods")]];
    if (this.config.resolution) { rows.push(["H3 分辨率 Resolution", this.resolution]); }
    return rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    }).join("");
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
    if (legend.doc) { this.showSurfaceLegend(legend, legend.doc); return; }  // a map file
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
      self.showSurfaceLegend(legend, doc);
      var tiles = self.layerUrl(layer);
      if (ref._url !== tiles) { ref.setUrl(tiles); }
    }).catch(function () {
      self.legendDiv.innerHTML = legendRows(legend.title, [], "图例加载失败 Legend unavailable");
    });
  };

  GeoMap.prototype.showSurfaceLegend = function (legend, doc) {
    var classes = doc.classes.map(function (c) {
      var from = Math.abs(c.from) < 0.01 ? Number(c.from).toPrecision(2) : number(c.from, 3);
      return { colour: c.colour, opacity: c.opacity, label: "≥ " + from };
    }).reverse();
    this.legendDiv.innerHTML = legendRows(doc.title || legend.title, classes, legend.note);
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
        var props = e.layer && (e.layer.properties ||  // a vector tile's or a GeoJSON feature's
          (e.layer.feature && e.layer.feature.properties)) || {};
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
        if (layer.link && !aggregated && props[layer.link[0]] && !self.config.file) {  // the record's enterprise file
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
    if (this.config.file) {  // no service to ask: what the file holds
      var held = props.cases === undefined ? "" : fieldRows([["cases", "案件数 Cases", "int"]], props, {});
      popup.setContent(head + held +
        '</table><div class="geo-note">明细请在线查看 Details online only</div></div>');
      return;
    }
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
    geojson: geojson,
    query: query,
    init: function (map, config, refs) {
      var page = new GeoMap(map, config, refs);
      global.geoMap = page;  // for the browser checks and for the curious
      return page;
    }
  };
})(window);
