// Runs in each page of the book (tests/test_browser.py): what a reader would notice, as JSON.
const article = document.querySelector("article") || document.body;
const box = article.getBoundingClientRect();
const clone = article.cloneNode(true);
clone.querySelectorAll("pre, code, .katex, script, style").forEach(e => e.remove());
const text = clone.innerText || "";
const raw = [];
for (const pat of [/\\\(/, /\\\)/, /\\\[/, /\$\$/, /\$\\[A-Za-z]/]) { const m = text.match(pat); if (m) raw.push(text.substr(Math.max(0, m.index - 30), 70)); }
const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
// Material lets code blocks, tables and equations bleed into the page margin by 0.8rem; up to 20 px
// past the text column (and never past the window) is that design, not an overflow.
const limit = Math.min(document.documentElement.clientWidth, box.right + 20) + 1;
const scrolls = el => { for (let a = el; a && a !== article.parentElement; a = a.parentElement) {
  const o = getComputedStyle(a).overflowX; if ((o === "auto" || o === "scroll") && a.getBoundingClientRect().right <= limit) return true; } return false; };
// On a wide screen no table may need a sideways scroll (its key columns would hide); on a phone a
// scroll container is the right answer.
const desktop = window.innerWidth >= 1000;
const wide = [...article.querySelectorAll("table, .katex-display, img, pre")].filter(el => {
  const r = el.getBoundingClientRect();
  if (r.width === 0) return false;
  // Notebook outputs (printed frames, LaTeX tables) keep their own scroll areas, as in Jupyter.
  if (desktop && el.tagName === "TABLE" && !el.closest(".jupyter-wrapper")) return r.right > limit;
  return r.right > limit && !scrolls(el); })
  .map(el => el.tagName + "." + (el.className || "") + " " + Math.round(el.getBoundingClientRect().right) + ">" + Math.round(box.right));
return JSON.stringify({katexErrors: document.querySelectorAll(".katex-error").length, raw, broken, wide});
