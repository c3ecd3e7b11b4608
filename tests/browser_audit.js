// Runs in each page of the book (tests/test_browser.py): what a reader would notice, as JSON.
const article = document.querySelector("article") || document.body;
const box = article.getBoundingClientRect();
const clone = article.cloneNode(true);
clone.querySelectorAll("pre, code, .katex, script, style").forEach(e => e.remove());
const text = clone.innerText || "";
const raw = [];
for (const pat of [/\\\(/, /\\\)/, /\\\[/, /\$\$/, /\$\\[A-Za-z]/]) { const m = text.match(pat); if (m) raw.push(text.substr(Math.max(0, m.index - 30), 70)); }
const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
const scrolls = el => { for (let a = el; a && a !== article.parentElement; a = a.parentElement) {
  const o = getComputedStyle(a).overflowX; if ((o === "auto" || o === "scroll") && a.getBoundingClientRect().right <= box.right + 1) return true; } return false; };
const wide = [...article.querySelectorAll("table, .katex-display, img, pre")].filter(el => {
  const r = el.getBoundingClientRect(); return r.width > 0 && r.right > box.right + 1 && !scrolls(el); })
  .map(el => el.tagName + "." + (el.className || "") + " " + Math.round(el.getBoundingClientRect().right) + ">" + Math.round(box.right));
return JSON.stringify({katexErrors: document.querySelectorAll(".katex-error").length, raw, broken, wide});
