/* The field page's queue of findings (IndexedDB, on this phone): each finding is kept
   until the person removes it; its state is waiting, sending, sent or refused (with the
   server's reason). A refused finding is never dropped, and one the server never
   answered stays waiting. */
(function (global) {
  "use strict";
  var DB = "geo-field", STORE = "findings", VERSION = 1;

  function open() {
    return new Promise(function (resolve, reject) {
      var request = global.indexedDB.open(DB, VERSION);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "id" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function withStore(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode), result;
        var request = work(tx.objectStore(STORE));
        if (request) request.onsuccess = function () { result = request.result; };
        tx.oncomplete = function () { db.close(); resolve(result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function all() {
    return withStore("readonly", function (store) { return store.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return a.created < b.created ? -1 : 1; });
    });
  }
  function put(item) { return withStore("readwrite", function (store) { return store.put(item); }); }
  function remove(id) { return withStore("readwrite", function (store) { return store.delete(id); }); }

  /* Send one finding; resolves with its new state. Only an answer about the finding
     itself (400, 403, 409, 413, 422) refuses it; no answer, a 401 (log in again), 429
     or 5xx leave it waiting. */
  function send(item, url) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/geo+json", "Accept": "application/geo+json" },
      body: JSON.stringify(item.feature)
    }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { body = null; }
        var said = body && body.description ? body.description : "HTTP " + response.status;
        if (response.status === 201) return { state: "sent", reason: null, note: null };
        if ([400, 403, 409, 413, 422].indexOf(response.status) >= 0) {
          return { state: "refused", reason: said + " [" + response.status + "]", note: null };
        }
        if (response.status === 401) {
          return { state: "waiting", reason: null, note: "登录已失效，请重新登录后发送 (log in again)" };
        }
        return { state: "waiting", reason: null, note: "服务器暂不可用，稍后重试 (" + said + ")" };
      });
    }, function () {
      return { state: "waiting", reason: null, note: "无信号，稍后发送 (no signal)" };
    });
  }

  /* Send every waiting finding of ``account``, one after the other; ``changed`` is
     called after each state change. */
  function flush(url, account, changed) {
    return all().then(function (items) {
      var waiting = items.filter(function (i) { return i.state === "waiting" && i.account === account; });
      return waiting.reduce(function (done, item) {
        return done.then(function () {
          item.state = "sending";
          return put(item).then(changed).then(function () { return send(item, url); }).then(function (result) {
            item.state = result.state;
            item.reason = result.reason;
            item.note = result.note;
            item.tried = new Date().toISOString();
            return put(item).then(changed);
          });
        });
      }, Promise.resolve());
    });
  }

  global.FieldQueue = { all: all, put: put, remove: remove, flush: flush };
})(self);
