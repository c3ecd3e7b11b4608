// The language switcher goes to the same page in the other edition: the English book at the site's
// root, the Hebrew one under he/ with the same page paths (hooks/editions.py builds both). The
// notebooks and the API reference exist in English only: from them, Hebrew means the Hebrew home.
(function () {
  const ENGLISH_ONLY = ["notebooks/", "api/"];
  // And the glossary of Hebrew terms exists in Hebrew only: from it, English means the English home.
  const HEBREW_ONLY = ["glossary/"];
  function relink() {
    const here = window.location.pathname;
    document.querySelectorAll("a.md-select__link[hreflang]").forEach((a) => {
      const root = new URL(a.getAttribute("href"), window.location.href).pathname.replace(/he\/?$/, "");
      const inHebrew = here.startsWith(root + "he/");
      let page = inHebrew ? here.slice((root + "he/").length) : here.slice(root.length);
      if (a.hreflang === "he" && ENGLISH_ONLY.some((p) => page.startsWith(p))) page = "";
      if (a.hreflang === "en" && HEBREW_ONLY.some((p) => page.startsWith(p))) page = "";
      a.setAttribute("href", root + (a.hreflang === "he" ? "he/" : "") + page);
    });
  }
  if (typeof document$ !== "undefined") document$.subscribe(relink);
  else document.addEventListener("DOMContentLoaded", relink);
})();
