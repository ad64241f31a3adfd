/* The field page (/field): the quarter's drawn enterprises on a map, the phone's
   position, the finding form and the visible queue (queue.js). Its data come in the
   page's JSON block #field-data; no inline script runs. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("field-data").textContent);
  var state = { position: null, markers: {} };
  var $ = function (id) { return document.getElementById(id); };

  /* a moment (ISO, UTC) as the phone's own clock shows it: 2026-12-06 00:30 */
  function stamp(iso) {
    var d = new Date(iso);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function text(tag, content, cls) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = content;
    return el;
  }

  /* -- the map ------------------------------------------------------------------- */
  var map = L.map("field-map", { zoomControl: true, attributionControl: false });
  map.setView([23.0, 108.3], 8);  // a view before any layer: Leaflet's vectors need one
  if (data.basemap) L.tileLayer(data.basemap, { maxZoom: 18 }).addTo(map);
  var bounds = null;
  if (data.outline) {
    var outline = L.geoJSON(data.outline, {
      style: { color: "#1f5f8b", weight: 2, fillOpacity: 0.04 }
    }).addTo(map);
    bounds = outline.getBounds();
  }
  data.enterprises.forEach(function (e) {
    if (e.lon === null || e.lat === null) return;
    var marker = L.circleMarker([e.lat, e.lon], {
      radius: 8, color: "#fff", weight: 2, fillOpacity: 0.9,
      fillColor: e.mine ? "#c0392b" : "#d68910", className: "field-enterprise"
    }).addTo(map);
    var popup = document.createElement("div");
    popup.appendChild(text("strong", e.name));
    popup.appendChild(document.createElement("br"));
    popup.appendChild(text("span", e.credit_code));
    popup.appendChild(document.createElement("br"));
    var link = text("a", "一源一档 enterprise file");
    link.href = e.file;
    popup.appendChild(link);
    marker.bindPopup(popup);
    state.markers[e.credit_code] = marker;
    bounds = bounds ? bounds.extend(marker.getLatLng()) : L.latLngBounds([marker.getLatLng()]);
  });
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [12, 12], maxZoom: 15 });
  window.fieldMap = map;

  /* -- the drawn enterprises ------------------------------------------------------ */
  var list = $("field-enterprises"), select = $("field-enterprise");
  if (!data.enterprises.length) {
    list.appendChild(text("li", "本季度（" + data.quarter + "）暂无抽查企业 (no enterprise drawn this quarter)"));
  }
  data.enterprises.forEach(function (e) {
    var li = document.createElement("li");
    li.dataset.mine = String(e.mine);
    li.dataset.code = e.credit_code;
    li.appendChild(text("strong", e.name));
    var meta = [e.credit_code, e.address || "", (e.inspectors || []).join("、")].filter(Boolean);
    li.appendChild(text("div", meta.join(" · "), "field-meta"));
    var file = text("a", "一源一档");
    file.href = e.file;
    li.appendChild(file);
    var pick = text("button", "记录发现");
    pick.type = "button";
    pick.addEventListener("click", function () {
      select.value = e.credit_code;
      if (state.markers[e.credit_code]) state.markers[e.credit_code].openPopup();
      $("field-form").scrollIntoView();
    });
    li.appendChild(document.createTextNode(" "));
    li.appendChild(pick);
    list.appendChild(li);
    var option = text("option", e.name);
    option.value = e.credit_code;
    select.appendChild(option);
  });

  /* -- the phone's position ------------------------------------------------------- */
  var here = null;
  function located(pos) {
    state.position = { lon: pos.coords.longitude, lat: pos.coords.latitude,
      accuracy: pos.coords.accuracy };
    var p = $("field-position");
    p.dataset.state = "located";
    p.textContent = "当前位置 " + state.position.lon.toFixed(6) + ", " + state.position.lat.toFixed(6) +
      " (±" + Math.round(state.position.accuracy) + " m)";
    var at = [state.position.lat, state.position.lon];
    if (here) here.setLatLng(at);
    else here = L.circleMarker(at, { radius: 7, className: "field-here", fillOpacity: 1 }).addTo(map);
  }
  function notLocated(error) {
    var p = $("field-position");
    p.dataset.state = "error";
    p.textContent = "无法获取位置：" + error.message + "（发现将按所选企业定位 placed at the enterprise）";
  }
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(located, notLocated,
      { enableHighAccuracy: true, maximumAge: 30000, timeout: 20000 });
  } else {
    notLocated({ message: "浏览器不支持定位 (no geolocation)" });
  }

  /* -- the form ------------------------------------------------------------------- */
  var form = $("field-form");
  form.elements.inspection_date.value = data.today;
  form.elements.inspectors.value = data.account;

  function newId() {
    var bytes = new Uint8Array(6);
    (self.crypto || window.msCrypto).getRandomValues(bytes);
    var hex = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    return "FIELD-" + data.today.replace(/-/g, "") + "-" + hex;
  }

  /* The position where the finding is recorded: asked afresh, else the last one known. */
  function freshPosition() {
    return new Promise(function (resolve) {
      if (!navigator.geolocation) { resolve(state.position); return; }
      navigator.geolocation.getCurrentPosition(function (pos) {
        located(pos);
        resolve(state.position);
      }, function () { resolve(state.position); },
      { enableHighAccuracy: true, maximumAge: 0, timeout: 10000 });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (form.elements.use_position.checked) freshPosition().then(queueFinding);
    else queueFinding(null);
  });

  function queueFinding(position) {
    var f = form.elements, id = newId();
    var chosen = data.enterprises.filter(function (e) { return e.credit_code === f.enterprise.value; })[0];
    var properties = {
      inspection_id: id,
      inspection_date: f.inspection_date.value,
      problem_found: f.problem_found.value,
      problem_category: f.problem_category.value,
      description: f.description.value,
      measures: f.measures.value,
      inspectors: f.inspectors.value
    };
    if (chosen) {
      properties.enterprise_name = chosen.name;
      properties.credit_code = chosen.credit_code;
    }
    var feature = {
      type: "Feature", id: id, properties: properties,
      geometry: position ? { type: "Point", coordinates: [position.lon, position.lat] } : null
    };
    var item = { id: id, account: data.account, created: new Date().toISOString(),
      state: "waiting", reason: null, note: null, feature: feature,
      title: (chosen ? chosen.name : "") + " " + properties.problem_category };
    FieldQueue.put(item).then(function () {
      form.reset();
      form.elements.inspection_date.value = data.today;
      form.elements.inspectors.value = data.account;
      return render();
    }).then(function () {
      $("field-queue").scrollIntoView({ block: "nearest" });  // where it now waits
      return send();
    });
  }

  /* -- the queue ------------------------------------------------------------------ */
  var LABELS = { waiting: "等待发送 waiting", sending: "发送中 sending", sent: "已保存 sent",
    refused: "被拒绝 refused" };
  function render() {
    return FieldQueue.all().then(function (items) {
      var queue = $("field-queue");
      queue.textContent = "";
      if (!items.length) queue.appendChild(text("li", "队列为空 (nothing queued)"));
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.dataset.state = item.state;
        li.dataset.id = item.id;
        li.appendChild(text("span", LABELS[item.state] || item.state, "field-state"));
        li.appendChild(text("strong", item.title.trim() || item.id));
        li.appendChild(text("div", item.id + " · " + stamp(item.created), "field-meta"));
        if (item.account !== data.account) {
          li.appendChild(text("div", "属于账号 " + item.account + "，请用该账号登录后发送", "field-meta"));
        }
        if (item.reason) li.appendChild(text("p", item.reason, "field-reason"));
        if (item.note && item.state === "waiting") li.appendChild(text("div", item.note, "field-meta"));
        if (item.state === "refused" || item.state === "sent") {
          var drop = text("button", "删除 remove");
          drop.type = "button";
          drop.addEventListener("click", function () {
            if (item.state === "sent" || window.confirm("删除这条被拒绝的发现？(remove this refused finding?)")) {
              FieldQueue.remove(item.id).then(render);
            }
          });
          li.appendChild(drop);
        }
        queue.appendChild(li);
      });
    });
  }

  var sending = false, again = false;
  function send() {
    signal();
    if (!navigator.onLine) return Promise.resolve();
    if (sending) { again = true; return Promise.resolve(); }  // queued while sending
    sending = true;
    again = false;
    var done = function () {
      sending = false;
      return again ? send() : render();
    };
    return FieldQueue.flush(data.post, data.account, render).then(done, done);
  }
  function signal() {
    var badge = $("field-signal");
    badge.dataset.online = String(navigator.onLine);
    badge.textContent = navigator.onLine ? "在线 online" : "离线 offline";
  }

  $("field-send").addEventListener("click", send);
  $("field-clear").addEventListener("click", function () {
    FieldQueue.all().then(function (items) {
      return Promise.all(items.filter(function (i) { return i.state === "sent"; }).map(function (i) {
        return FieldQueue.remove(i.id);
      }));
    }).then(render);
  });
  window.addEventListener("online", send);
  window.addEventListener("offline", signal);
  window.setInterval(send, 30000);

  /* a finding left "sending" by a page closed mid-way was never answered: waiting again */
  FieldQueue.all().then(function (items) {
    return Promise.all(items.filter(function (i) { return i.state === "sending"; }).map(function (i) {
      i.state = "waiting";
      return FieldQueue.put(i);
    }));
  }).then(render).then(send);

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(data.worker, { scope: data.scope }).catch(function (error) {
      console.warn("service worker not registered: " + error);
    });
  }
  window.fieldPage = { render: render, send: send };
})();
