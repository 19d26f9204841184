// Conveniences only: without this script every panel shows, one after the other.
(function () {
  document.documentElement.classList.add("js");
  document.querySelectorAll("[data-tabs]").forEach(function (list) {
    var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    function select(chosen, focus) {
      tabs.forEach(function (tab) {
        var on = tab === chosen;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.tabIndex = on ? 0 : -1;
        document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) chosen.focus();
    }
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (event) {
        var step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (step) {
          select(tabs[(index + step + tabs.length) % tabs.length], true);
          event.preventDefault();
        } else if (event.key === "Home" || event.key === "End") {
          select(tabs[event.key === "Home" ? 0 : tabs.length - 1], true);
          event.preventDefault();
        }
      });
    });
    list.hidden = false;
    select(tabs[0], false);
  });
  // Following a link into a hidden panel (a number in the guide, an entry) opens that panel.
  function reveal() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (!target) return;
    var panel = target.closest("[data-panel]");
    if (panel && panel.hidden) document.getElementById("tab-" + panel.id).click();
    if (target.tagName === "DETAILS") target.open = true;
    target.scrollIntoView();
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
