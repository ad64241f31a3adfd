/* The field page's service worker (served at /field/sw.js, scope /field): it keeps the
   page, its scripts, styles, Leaflet and the font, so that the page opens with no
   signal. It never answers a POST: findings are queued by the page (queue.js) and sent
   by it when there is signal. */
"use strict";
var CACHE = "geo-field-v1";  // served named by a digest of SHELL's files (api/field.py)
var SHELL = [
  "/field",
  "/static/field/field.js",
  "/static/field/queue.js",
  "/static/field/field.css",
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/leaflet/leaflet.css",
  "/static/vendor/fonts/NotoSansSC-Regular.subset.ttf",
  "/static/maps/favicon.svg"
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      return Promise.all(SHELL.map(function (url) {
        return cache.add(url).catch(function () { return null; }); // kept on the next visit
      }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) {
        return caches.delete(n);
      }));
    }).then(function () { return self.clients.claim(); })
  );
});

function fromNetwork(request, key) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(key, copy); });
    } else if (response.status === 401 || response.status === 403) {
      // signed out or another account: the kept page (its enterprises) is not kept longer
      caches.open(CACHE).then(function (cache) { cache.delete(key); });
    }
    return response;
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/field") {
    // the page: the network first (this quarter's draws), the kept copy without signal
    event.respondWith(fromNetwork(request, "/field").catch(function () {
      return caches.match("/field").then(function (hit) { return hit || Response.error(); });
    }));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (hit) {
      return hit || fromNetwork(request, request);
    }));
  }
});
