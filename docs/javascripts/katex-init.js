// Typeset the math that pymdownx.arithmatex leaves in the page, with the KaTeX copy served by
// this site (docs/javascripts/katex): no CDN, so the book reads offline. Re-run on every page
// change, since Material's instant navigation swaps content without a reload.
function renderMath() {
  renderMathInElement(document.body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(renderMath);
} else {
  document.addEventListener("DOMContentLoaded", renderMath);
}
