// vpcep console: small progressive enhancements. Every page works without this file; with it,
// statuses refresh live, confirmations open as dialogs, and rows are added without a round trip.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // ---- live statuses: poll a badge's fragment while its status is in progress -------------
  var inflight = new WeakSet();
  function pollBadges() {
    var now = Date.now();
    document.querySelectorAll("[data-status-url][data-poll]").forEach(function (el) {
      var every = parseInt(el.getAttribute("data-poll"), 10) || 0;
      if (every <= 0 || inflight.has(el)) return;
      var due = parseInt(el.getAttribute("data-due") || "0", 10);
      if (!due) { el.setAttribute("data-due", String(now + every)); return; }
      if (now < due) return;
      inflight.add(el);
      fetch(el.getAttribute("data-status-url"), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          inflight.delete(el);
          if (!html) { el.setAttribute("data-due", String(Date.now() + 5000)); return; }
          var tmp = document.createElement("div");
          tmp.innerHTML = html.trim();
          var fresh = tmp.firstElementChild;
          if (!fresh) return;
          if (fresh.className === el.className && fresh.textContent === el.textContent) {
            el.setAttribute("data-due", String(Date.now() + every));
            return;
          }
          el.replaceWith(fresh);
        })
        .catch(function () {
          inflight.delete(el);
          el.setAttribute("data-due", String(Date.now() + 5000));
        });
    });
  }
  setInterval(pollBadges, 250);

  // ---- confirmation dialog for forms with data-confirm --------------------------------------
  function setupConfirm() {
    var dlg = document.getElementById("confirm-dialog");
    if (!dlg || typeof dlg.showModal !== "function") return;
    var text = document.getElementById("confirm-text");
    var pending = null;
    document.addEventListener("submit", function (ev) {
      var form = ev.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
      var confirmed = form.querySelector("input[name=confirmed]");
      if (confirmed && confirmed.value === "1") return;
      ev.preventDefault();
      pending = form;
      text.textContent = form.getAttribute("data-confirm");
      var title = document.getElementById("confirm-title");
      if (title && form.getAttribute("data-confirm-title")) title.textContent = form.getAttribute("data-confirm-title");
      dlg.returnValue = "";
      dlg.showModal();
      var ok = document.getElementById("confirm-ok");
      if (ok) ok.focus();
    });
    dlg.addEventListener("close", function () {
      var form = pending;
      pending = null;
      if (form && dlg.returnValue === "ok") {
        var confirmed = form.querySelector("input[name=confirmed]");
        if (confirmed) confirmed.value = "1";
        form.submit();
      }
    });
  }

  // ---- show/hide blocks by a radio group's value (data-when="name=value") -------------------
  function setupWhen() {
    var blocks = document.querySelectorAll("[data-when]");
    if (!blocks.length) return;
    function update() {
      blocks.forEach(function (b) {
        var parts = b.getAttribute("data-when").split("=");
        var checked = document.querySelector("input[type=radio][name='" + parts[0] + "']:checked");
        b.hidden = !(checked && checked.value === parts[1]);
      });
    }
    document.addEventListener("change", function (ev) {
      if (ev.target instanceof HTMLInputElement && ev.target.type === "radio") update();
    });
    update();
  }

  // ---- a VPC select filters the subnet / backend selects (data-filters="id id") -------------
  function setupFilters() {
    document.querySelectorAll("select[data-filters]").forEach(function (vpc) {
      var targets = vpc.getAttribute("data-filters").split(/\s+/);
      function apply() {
        targets.forEach(function (id) {
          var sel = document.getElementById(id);
          if (!sel) return;
          var firstVisible = null;
          var selectedVisible = false;
          sel.querySelectorAll("option[data-vpc]").forEach(function (o) {
            var show = o.getAttribute("data-vpc") === vpc.value;
            o.hidden = !show;
            o.disabled = !show;
            if (show && !firstVisible) firstVisible = o;
            if (show && o.selected) selectedVisible = true;
          });
          sel.querySelectorAll("optgroup[data-vpc]").forEach(function (g) {
            g.hidden = g.getAttribute("data-vpc") !== vpc.value;
          });
          if (!selectedVisible) {
            if (firstVisible) firstVisible.selected = true; else sel.selectedIndex = -1;
          }
          var hint = document.querySelector("[data-empty-for='" + id + "']");
          if (hint) hint.hidden = !!firstVisible;
        });
      }
      vpc.addEventListener("change", apply);
      apply();
    });
  }

  // ---- repeatable rows (port mappings, whitelist records) ----------------------------------
  function renumber(tbody) {
    Array.prototype.forEach.call(tbody.rows, function (row, i) {
      row.querySelectorAll("[id]").forEach(function (el) {
        el.id = el.id.replace(/\d+(?=\D*$)/, String(i));
      });
      row.querySelectorAll("label[for]").forEach(function (el) {
        el.htmlFor = el.htmlFor.replace(/\d+(?=\D*$)/, String(i));
        el.textContent = el.textContent.replace(/\d+/, String(i + 1));
      });
      row.querySelectorAll("[aria-label]").forEach(function (el) {
        el.setAttribute("aria-label", el.getAttribute("aria-label").replace(/\d+/, String(i + 1)));
      });
      row.querySelectorAll("button[value^='del-port-']").forEach(function (el) {
        el.value = "del-port-" + i;
      });
    });
  }

  function setupRows(opts) {
    var tbody = document.getElementById(opts.tbody);
    var tpl = document.getElementById(opts.template);
    var add = document.getElementById(opts.add);
    if (!tbody || !tpl || !add) return;
    var max = parseInt(tbody.closest("table").getAttribute("data-max"), 10) || 50;
    var counter = opts.counter();
    var counterTpl = opts.counterText();
    function refresh() {
      renumber(tbody);
      var left = Math.max(0, max - tbody.rows.length);
      add.disabled = left === 0;
      if (counter && counterTpl) counter.textContent = counterTpl.replace("{n}", String(left));
    }
    add.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (tbody.rows.length >= max) return;
      var row = tpl.content.firstElementChild.cloneNode(true);
      tbody.appendChild(row);
      refresh();
      var first = row.querySelector("input, select");
      if (first) first.focus();
    });
    tbody.addEventListener("click", function (ev) {
      var btn = ev.target.closest(".remove-row");
      if (!btn) return;
      ev.preventDefault();
      var row = btn.closest("tr");
      if (tbody.rows.length > 1) {
        row.remove();
      } else {
        row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      }
      refresh();
      add.focus();
    });
    refresh();
  }

  // ---- dialogs opened by a link (data-open-dialog), closed by data-close-dialog -------------
  function setupDialogs() {
    document.querySelectorAll("[data-open-dialog]").forEach(function (a) {
      var dlg = document.getElementById(a.getAttribute("data-open-dialog"));
      if (!dlg || typeof dlg.showModal !== "function") return;
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        dlg.showModal();
        var first = dlg.querySelector("input[type=text]");
        if (first) first.focus();
      });
    });
    document.querySelectorAll("[data-close-dialog]").forEach(function (a) {
      var dlg = document.getElementById(a.getAttribute("data-close-dialog"));
      if (!dlg) return;
      a.addEventListener("click", function (ev) {
        if (!dlg.open) return;
        ev.preventDefault();
        dlg.close();
      });
    });
    document.querySelectorAll("dialog[data-open-on-load]").forEach(function (dlg) {
      if (typeof dlg.showModal !== "function") return;
      if (dlg.open) dlg.close();
      dlg.showModal();
      var bad = dlg.querySelector("[aria-invalid=true]") || dlg.querySelector("input[type=text]");
      if (bad) bad.focus();
    });
  }

  // ---- 验证: look the service name up in place ---------------------------------------------
  function setupVerify() {
    var btn = document.getElementById("verify-button");
    var input = document.getElementById("service_name");
    var out = document.getElementById("verify-result");
    if (!btn || !input || !out) return;
    btn.addEventListener("click", function (ev) {
      ev.preventDefault();
      btn.disabled = true;
      fetch("/console/endpoints/verify?service_name=" + encodeURIComponent(input.value.trim()),
            { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) { out.innerHTML = html; })
        .catch(function () { out.textContent = ""; })
        .then(function () { btn.disabled = false; });
    });
    input.addEventListener("input", function () { out.innerHTML = ""; });
  }

  // ---- times in the browser's time zone (the page shows UTC, marked, without script) --------
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local][datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      if (!el.title) el.title = el.textContent;
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
      el.removeAttribute("data-local");
    });
  }

  // ---- tables wider than their box: a visible hint above them ------------------------------
  function scrollHints() {
    document.querySelectorAll(".table-wrap[data-scroll-hint]").forEach(function (wrap) {
      var hint = wrap.previousElementSibling;
      if (!hint || !hint.classList.contains("scroll-hint")) {
        hint = document.createElement("p");
        hint.className = "scroll-hint";
        hint.textContent = wrap.getAttribute("data-scroll-hint");
        wrap.parentNode.insertBefore(hint, wrap);
      }
      hint.hidden = !(wrap.scrollWidth > wrap.clientWidth + 1);
    });
  }

  // ---- backend types: offer only those the chosen VPC has ----------------------------------
  function setupBackendTypes() {
    var vpc = document.getElementById("vpc_id");
    var choices = document.querySelectorAll("[data-backend-type]");
    if (!vpc || !choices.length) return;
    function apply() {
      var first = null;
      var checkedOk = false;
      choices.forEach(function (label) {
        var sel = document.getElementById(label.getAttribute("data-backend-select"));
        var has = !!(sel && sel.querySelector("option[data-vpc='" + vpc.value + "']"));
        label.hidden = !has;
        var radio = label.querySelector("input[type=radio]");
        radio.disabled = !has;
        if (has && !first) first = radio;
        if (has && radio.checked) checkedOk = true;
      });
      if (!checkedOk && first) first.checked = true;
      var none = document.getElementById("no-backend");
      if (none) none.hidden = !!first;
      choices[0].parentNode.hidden = !first;
      // The picker of the checked type only; none when the VPC has no backend at all.
      var checked = document.querySelector("input[type=radio][name=server_type]:checked");
      document.querySelectorAll("[data-when^='server_type=']").forEach(function (b) {
        b.hidden = !(first && checked && b.getAttribute("data-when") === "server_type=" + checked.value);
      });
    }
    vpc.addEventListener("change", apply);
    apply();
  }

  function start() {
    localTimes();
    scrollHints();
    window.addEventListener("resize", scrollHints);
    setupConfirm();
    setupWhen();
    setupFilters();
    setupRows({
      tbody: "port-rows", template: "port-row-template", add: "add-port",
      counter: function () { return document.getElementById("ports-hint"); },
      counterText: function () {
        var t = document.getElementById("ports-left-template");
        return t ? t.getAttribute("data-text") : null;
      }
    });
    setupRows({
      tbody: "perm-rows", template: "perm-row-template", add: "add-perm-row",
      counter: function () { return document.getElementById("perms-left"); },
      counterText: function () {
        var t = document.getElementById("perms-left");
        return t ? t.getAttribute("data-text") : null;
      }
    });
    setupDialogs();
    setupVerify();
    setupBackendTypes();
    new MutationObserver(function () { localTimes(); }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
