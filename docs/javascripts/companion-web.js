// GAN Companion's interactive figures: the book's own networks run in the reader's browser.
// Plain JavaScript, nothing fetched from outside this site. The networks are the files that
// `companion export-web` writes (format companion-web/1: manifest.json + weights.bin, documented
// in the book); they are fetched the first time a figure is used.
//
// Test hook (used by tests/test_browser.py, and handy in the console):
//   await window.companion.decode(z, base)   -> 784 grey levels 0..255 of G(z), z of length 100
//   await window.companion.encode(grey, base) -> the encoder's latent (length 100) of 784 grey levels
//   window.companion.play(game, mode, lr, steps, x0, y0) -> [[x, y], ...] gradient play, as in Python
//   window.companion.text(key, params)       -> a figure's string in the page's language, as innerText reads it
(function () {
  "use strict";

  const models = {};

  // --- every string a figure shows, one table per language ---------------------------------------------
  // The page's language (<html lang>, set by each edition) picks the table. In a string, {name} is a value
  // the figure fills in and $...$ a formula or number; both are shown as left-to-right isolates
  // (<bdi dir="ltr">), so that "|z| = 4.2" and "28 x 28" read correctly inside a right-to-left sentence.
  const STRINGS = {
    en: {
      explorer_hint: "Click a digit for $A$, another for $B$; slide $t$ from $A$ to $B$.",
      explorer_t: "$t$",
      explorer_t_aria: "interpolation t",
      explorer_linear: "linear: $(1 - t) A + t B$",
      explorer_linear_aria: "linear interpolation",
      explorer_slerp: "spherical (slerp)",
      explorer_slerp_aria: "spherical interpolation",
      explorer_dirs: "Principal directions of the encoder's codes (in standard deviations):",
      explorer_dir: "direction {k}",
      explorer_latent: "latent {k}",
      explorer_status: "$A$ = latent {a}, $B$ = latent {b}, {t}",
      draw_pad_aria: "drawing pad, 28 by 28 pixels",
      draw_small_aria: "what the encoder sees (28 x 28)",
      draw_small: "$28 x 28$",
      draw_recon: "$G(E(x))$",
      draw_recon_aria: "G(E(drawing))",
      draw_clear: "clear",
      draw_start: "Draw a digit with the mouse or a finger.",
      draw_status: "{norm} (the generator was trained on $|z|$ about 10)",
      play_game: "game",
      play_step: "step size",
      play_bilinear: "bilinear, $f(x, y) = xy$",
      play_squared: "squared distance, $f(x, y) = (x - y)^2$",
      play_hint: "Red: simultaneous steps. Blue: alternating ($x$ first, then $y$ answers). The dot is the start.",
      play_status: "{steps} rounds from {start} with step {eta}. Simultaneous: ends at {end_s}, distance from $(0, 0)$ " +
        "{dist_s}; alternating: ends at {end_a}, distance from $(0, 0)$ {dist_a}.",
    },
    he: {
      explorer_hint: "לחצו על ספרה אחת בשביל $A$ ועל אחרת בשביל $B$, והזיזו את $t$ מ-$A$ אל $B$.",
      explorer_t: "$t$",
      explorer_t_aria: "פרמטר האינטרפולציה t",
      explorer_linear: "ישר: $(1 - t) A + t B$",
      explorer_linear_aria: "אינטרפולציה ישרה",
      explorer_slerp: "כדורי (slerp)",
      explorer_slerp_aria: "אינטרפולציה כדורית",
      explorer_dirs: "הכיוונים העיקריים של הקודים של המקודד (ביחידות של סטיית תקן):",
      explorer_dir: "כיוון {k}",
      explorer_latent: "וקטור סמוי {k}",
      explorer_status: "$A$ הוא וקטור סמוי {a}, $B$ הוא וקטור סמוי {b}, {t}",
      draw_pad_aria: "לוח ציור של 28 על 28 פיקסלים",
      draw_small_aria: "מה שהמקודד רואה (28 על 28)",
      draw_small: "$28 x 28$",
      draw_recon: "$G(E(x))$",
      draw_recon_aria: "G(E(x)) של הציור",
      draw_clear: "ניקוי",
      draw_start: "ציירו ספרה בעכבר או באצבע.",
      draw_status: "{norm} (המחולל אומן על $|z|$ של 10 בערך)",
      play_game: "משחק",
      play_step: "גודל צעד",
      play_bilinear: "בילינארי, $f(x, y) = xy$",
      play_squared: "מרחק בריבוע, $f(x, y) = (x - y)^2$",
      play_hint: "אדום: צעדים בו-זמניים. כחול: לסירוגין ($x$ קודם, ו-$y$ עונה). הנקודה היא ההתחלה.",
      play_status: "{steps} סבבים מ-{start} בצעד {eta}. בו-זמני: מסתיים ב-{end_s}, במרחק {dist_s} מ-$(0, 0)$; " +
        "לסירוגין: מסתיים ב-{end_a}, במרחק {dist_a} מ-$(0, 0)$.",
    },
  };
  const PLAY_GAMES = { bilinear: "play_bilinear", "squared distance": "play_squared" };

  function lang() {
    return (document.documentElement.lang || "en").slice(0, 2) === "he" ? "he" : "en";
  }

  const PIECES = /(\$[^$]*\$|\{\w+\})/;

  // The plain text of a string (what innerText reads): formulas unwrapped, values filled in.
  function text(key, params) {
    return STRINGS[lang()][key].split(PIECES).map((p) => {
      if (p.startsWith("$")) return p.slice(1, -1);
      if (p.startsWith("{")) return String(params[p.slice(1, -1)]);
      return p;
    }).join("");
  }

  // The same string as nodes: plain text runs, and each formula or value a left-to-right isolate.
  function fill(node, key, params) {
    const parts = STRINGS[lang()][key].split(PIECES).filter((p) => p !== "").map((p) => {
      if (p.startsWith("$")) return el("bdi", { dir: "ltr" }, [p.slice(1, -1)]);
      if (p.startsWith("{")) return el("bdi", { dir: "ltr" }, [String(params[p.slice(1, -1)])]);
      return document.createTextNode(p);
    });
    node.replaceChildren(...parts);
    return node;
  }

  function said(tag, attrs, key, params) {
    return fill(el(tag, attrs || {}), key, params || {});
  }

  function halfToFloat(h) {
    const s = (h & 0x8000) ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
    if (e === 31) return f ? NaN : s * Infinity;
    return s * Math.pow(2, e - 15) * (1 + f / 1024);
  }

  function tensor(buffer, desc) {
    const n = desc.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (desc.dtype === "f16") {
      const h = new Uint16Array(buffer, desc.offset, n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(h[i]);
    } else {  // q8: float32 scale per row, then int8 values
      const rows = desc.shape[0];
      const per = n / rows;
      const scale = new Float32Array(buffer, desc.offset, rows);
      const q = new Int8Array(buffer, desc.offset + 4 * rows, n);
      for (let r = 0; r < rows; r++) for (let j = 0; j < per; j++) out[r * per + j] = q[r * per + j] * scale[r];
    }
    return out;
  }

  async function load(base) {
    const url = new URL(base, document.baseURI).href;
    if (!models[url]) {
      models[url] = (async () => {
        const manifest = await (await fetch(url + "manifest.json")).json();
        const buffer = await (await fetch(url + manifest.weights.file)).arrayBuffer();
        const prepare = (layers) => layers.map((L) => Object.assign({}, L, {
          w: tensor(buffer, L.weight), b: tensor(buffer, L.bias),
        }));
        return {
          manifest,
          generator: prepare(manifest.generator.layers),
          encoder: manifest.encoder ? prepare(manifest.encoder.layers) : null,
        };
      })();
    }
    return models[url];
  }

  function activate(x, L) {
    if (L.activation === "relu") for (let i = 0; i < x.length; i++) x[i] = x[i] > 0 ? x[i] : 0;
    else if (L.activation === "sigmoid") for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
    else if (L.activation === "tanh") for (let i = 0; i < x.length; i++) x[i] = Math.tanh(x[i]);
    else if (L.activation === "leaky_relu") for (let i = 0; i < x.length; i++) x[i] = x[i] > 0 ? x[i] : L.slope * x[i];
    return x;
  }

  // ConvTranspose2d: out[co, i*s - p + ky, j*s - p + kx] += x[ci, i, j] * W[ci, co, ky, kx].
  function convT(x, h, L) {
    const k = L.k, s = L.stride, p = L.padding;
    const ho = (h - 1) * s - 2 * p + k + L.output_padding;
    const out = new Float32Array(L.out * ho * ho);
    for (let co = 0; co < L.out; co++) out.fill(L.b[co], co * ho * ho, (co + 1) * ho * ho);
    for (let ci = 0; ci < L.in; ci++) {
      for (let i = 0; i < h; i++) for (let j = 0; j < h; j++) {
        const v = x[(ci * h + i) * h + j];
        if (v === 0) continue;
        for (let co = 0; co < L.out; co++) {
          const wbase = ((ci * L.out + co) * k) * k;
          const obase = co * ho * ho;
          for (let ky = 0; ky < k; ky++) {
            const oy = i * s - p + ky;
            if (oy < 0 || oy >= ho) continue;
            for (let kx = 0; kx < k; kx++) {
              const ox = j * s - p + kx;
              if (ox < 0 || ox >= ho) continue;
              out[obase + oy * ho + ox] += v * L.w[wbase + ky * k + kx];
            }
          }
        }
      }
    }
    return [activate(out, L), ho];
  }

  // Conv2d with zero padding: out[co, oy, ox] = b[co] + sum x[ci, oy*s - p + ky, ox*s - p + kx] W[co, ci, ky, kx].
  function conv(x, h, L) {
    const k = L.k, s = L.stride, p = L.padding;
    const ho = Math.floor((h + 2 * p - k) / s) + 1;
    const out = new Float32Array(L.out * ho * ho);
    for (let co = 0; co < L.out; co++) {
      for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < ho; ox++) {
        let acc = L.b[co];
        for (let ci = 0; ci < L.in; ci++) {
          const wbase = ((co * L.in + ci) * k) * k;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s - p + ky;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s - p + kx;
              if (ix < 0 || ix >= h) continue;
              acc += x[(ci * h + iy) * h + ix] * L.w[wbase + ky * k + kx];
            }
          }
        }
        out[(co * ho + oy) * ho + ox] = acc;
      }
    }
    return [activate(out, L), ho];
  }

  function linear(x, L) {
    const out = new Float32Array(L.out);
    for (let o = 0; o < L.out; o++) {
      let acc = L.b[o];
      const base = o * L.in;
      for (let i = 0; i < L.in; i++) acc += L.w[base + i] * x[i];
      out[o] = acc;
    }
    return activate(out, L);
  }

  function runGenerator(model, z) {
    let x = Float32Array.from(z), h = 1;
    for (const L of model.generator) [x, h] = convT(x, h, L);
    return Array.from(x, (v) => Math.round(255 * Math.min(1, Math.max(0, v))));
  }

  function runEncoder(model, grey) {
    let x = Float32Array.from(grey, (g) => (g / 255) * 2 - 1);
    let h = model.manifest.encoder.input[1];
    for (const L of model.encoder) {
      if (L.type === "conv") [x, h] = conv(x, h, L);
      else x = linear(x, L);
    }
    return Array.from(x);
  }

  // The minimax playground's arithmetic, step for step as companion.theory.minimax.gradient_play_2d.
  function gradient(game, x, y) {
    if (game === "bilinear") return [y, x];
    return [2 * (x - y), -2 * (x - y)];
  }

  function play(game, mode, lr, steps, x0, y0) {
    const clip = game === "squared distance" ? (v) => Math.min(1, Math.max(0, v)) : (v) => v;
    let x = x0, y = y0;
    const path = [[x, y]];
    for (let t = 0; t < steps; t++) {
      const [fx, fy] = gradient(game, x, y);
      if (mode === "simultaneous") {
        const nx = clip(x - lr * fx), ny = clip(y + lr * fy);
        x = nx; y = ny;
      } else {
        x = clip(x - lr * fx);
        y = clip(y + lr * gradient(game, x, y)[1]);
      }
      path.push([x, y]);
    }
    return path;
  }

  const DEFAULT_BASE = "assets/web/net/";

  function siteBase(el) {
    const root = document.querySelector("[data-md-component='logo']");
    const home = root ? root.getAttribute("href") : ".";
    return el && el.dataset.model ? el.dataset.model : new URL(home + "/" + DEFAULT_BASE, document.baseURI).href;
  }

  window.companion = {
    decode: async (z, base) => runGenerator(await load(base || siteBase()), z),
    encode: async (grey, base) => {
      const model = await load(base || siteBase());
      if (!model.encoder) throw new Error("this export has no encoder");
      return runEncoder(model, grey);
    },
    manifest: async (base) => (await load(base || siteBase())).manifest,
    play,
    strings: STRINGS,
    text: (key, params) => text(key, params || {}),
  };

  // --- drawing helpers -------------------------------------------------------------------------------

  function paint(canvas, grey) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = grey[i];
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function makeCanvas(cls, label) {
    const c = document.createElement("canvas");
    c.width = 28; c.height = 28;
    c.className = "cw-digit " + (cls || "");
    if (label) c.setAttribute("aria-label", label);
    return c;
  }

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.includes("-")) e.setAttribute(k, v);  // aria-label and the like are attributes, not properties
      else e[k] = v;
    }
    for (const c of children || []) e.append(c);
    return e;
  }

  function slerp(a, b, t) {
    const na = Math.hypot(...a), nb = Math.hypot(...b);
    let dot = 0;
    for (let i = 0; i < a.length; i++) dot += (a[i] / na) * (b[i] / nb);
    const omega = Math.acos(Math.min(1, Math.max(-1, dot)));
    if (omega < 1e-6) return a.map((v, i) => (1 - t) * v + t * b[i]);
    const s = Math.sin(omega);
    return a.map((v, i) => (Math.sin((1 - t) * omega) / s) * v + (Math.sin(t * omega) / s) * b[i]);
  }

  // --- figure 1: the latent explorer ---------------------------------------------------------------------

  async function latentExplorer(root) {
    const base = siteBase(root);
    const model = await load(base);
    const gallery = model.manifest.gallery;
    const dirs = model.manifest.directions;
    let a = 0, b = 1, next = "A";
    const ui = el("div", { className: "cw-ui" });
    const thumbs = el("div", { className: "cw-gallery" });
    const t = el("input", { type: "range", min: 0, max: 1, step: 0.01, value: 0.5, "aria-label": text("explorer_t_aria", {}) });
    const lin = makeCanvas("cw-big", text("explorer_linear_aria", {}));
    const sph = makeCanvas("cw-big", text("explorer_slerp_aria", {}));
    const sliders = (dirs ? dirs.vectors.slice(0, 4) : []).map((_, k) =>
      el("input", { type: "range", min: -3, max: 3, step: 0.1, value: 0, "aria-label": text("explorer_dir", { k: k + 1 }) }));
    const status = el("p", { className: "cw-status" });
    function shifted(z) {
      if (!dirs) return z;
      const out = z.slice();
      sliders.forEach((s, k) => {
        const amount = Number(s.value) * dirs.std[k];
        for (let i = 0; i < out.length; i++) out[i] += amount * dirs.vectors[k][i];
      });
      return out;
    }
    function render() {
      const tv = Number(t.value);
      const za = gallery[a], zb = gallery[b];
      paint(lin, runGenerator(model, shifted(za.map((v, i) => (1 - tv) * v + tv * zb[i]))));
      paint(sph, runGenerator(model, shifted(slerp(za, zb, tv))));
      fill(status, "explorer_status", { a: a + 1, b: b + 1, t: `t = ${tv.toFixed(2)}` });
      thumbs.querySelectorAll("button").forEach((btn, i) => {
        btn.classList.toggle("cw-a", i === a);
        btn.classList.toggle("cw-b", i === b);
      });
    }
    gallery.forEach((z, i) => {
      const c = makeCanvas("", text("explorer_latent", { k: i + 1 }));
      paint(c, runGenerator(model, z));
      const btn = el("button", { type: "button", title: text("explorer_latent", { k: i + 1 }) }, [c]);
      btn.addEventListener("click", () => {
        if (next === "A") { a = i; next = "B"; } else { b = i; next = "A"; }
        render();
      });
      thumbs.append(btn);
    });
    t.addEventListener("input", render);
    sliders.forEach((s) => s.addEventListener("input", render));
    ui.append(
      said("p", { className: "cw-hint" }, "explorer_hint"),
      thumbs,
      el("label", {}, [said("span", { className: "cw-label" }, "explorer_t"), " ", t]),
      el("div", { className: "cw-pair" }, [
        el("figure", {}, [lin, said("figcaption", {}, "explorer_linear")]),
        el("figure", {}, [sph, said("figcaption", {}, "explorer_slerp")]),
      ]),
    );
    if (sliders.length) {
      ui.append(said("p", { className: "cw-hint" }, "explorer_dirs"));
      sliders.forEach((s, k) => ui.append(el("label", {}, [said("span", { className: "cw-label" }, "explorer_dir", { k: k + 1 }), " ", s])));
    }
    ui.append(status);
    root.replaceChildren(ui);
    render();
  }

  // --- figure 2: draw a digit ----------------------------------------------------------------------------

  async function drawDigit(root) {
    const base = siteBase(root);
    const pad = el("canvas", { width: 224, height: 224, className: "cw-pad" });
    pad.setAttribute("aria-label", text("draw_pad_aria", {}));
    const small = makeCanvas("cw-big", text("draw_small_aria", {}));
    const recon = makeCanvas("cw-big", text("draw_recon_aria", {}));
    const clear = said("button", { type: "button", className: "md-button" }, "draw_clear");
    const status = said("p", { className: "cw-status" }, "draw_start");
    const grey = new Float32Array(784);
    let drawing = false, model = null;
    const ctx = pad.getContext("2d");
    function show() {
      ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 224, 224);
      const img = ctx.createImageData(224, 224);
      for (let y = 0; y < 224; y++) for (let x = 0; x < 224; x++) {
        const g = grey[Math.floor(y / 8) * 28 + Math.floor(x / 8)];
        const i = 4 * (y * 224 + x);
        img.data[i] = img.data[i + 1] = img.data[i + 2] = g; img.data[i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      paint(small, Array.from(grey, Math.round));
    }
    function stroke(ev) {
      const r = pad.getBoundingClientRect();
      const p = ev.touches ? ev.touches[0] : ev;
      const cx = ((p.clientX - r.left) / r.width) * 28, cy = ((p.clientY - r.top) / r.height) * 28;
      for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        const v = 255 * Math.max(0, Math.min(1, 1.6 - d));  // a soft pen about 2.5 pixels wide
        grey[y * 28 + x] = Math.max(grey[y * 28 + x], v);
      }
      show();
    }
    async function reconstruct() {
      model = model || await load(base);
      const g = Array.from(grey, Math.round);
      const z = runEncoder(model, g);
      paint(recon, runGenerator(model, z));
      fill(status, "draw_status", { norm: `|z| = ${Math.hypot(...z).toFixed(1)}` });
    }
    const start = (ev) => { drawing = true; stroke(ev); ev.preventDefault(); };
    const move = (ev) => { if (drawing) { stroke(ev); ev.preventDefault(); } };
    const end = () => { if (drawing) { drawing = false; reconstruct(); } };
    pad.addEventListener("mousedown", start); pad.addEventListener("mousemove", move);
    window.addEventListener("mouseup", end);
    pad.addEventListener("touchstart", start, { passive: false }); pad.addEventListener("touchmove", move, { passive: false });
    pad.addEventListener("touchend", end);
    clear.addEventListener("click", () => { grey.fill(0); show(); recon.getContext("2d").clearRect(0, 0, 28, 28); });
    root.replaceChildren(el("div", { className: "cw-ui" }, [
      el("div", { className: "cw-pair" }, [
        el("figure", {}, [pad, el("figcaption", {}, [clear])]),
        el("figure", {}, [small, said("figcaption", {}, "draw_small")]),
        el("figure", {}, [recon, said("figcaption", {}, "draw_recon")]),
      ]),
      status,
    ]));
    show();
  }

  // --- figure 3: the min-max playground -------------------------------------------------------------------

  function minimaxPlayground(root) {
    const defaults = JSON.parse(root.dataset.defaults || "{}");
    // An option's value is the game's name in the code; its label is the page's language (options hold text only).
    const game = el("select", { "aria-label": text("play_game", {}) }, Object.keys(defaults).map((g) =>
      el("option", { value: g, textContent: PLAY_GAMES[g] ? text(PLAY_GAMES[g], {}) : g })));
    const lr = el("input", { type: "range", min: 0.01, max: 0.3, step: 0.01, "aria-label": text("play_step", {}) });
    const plot = el("canvas", { width: 360, height: 360, className: "cw-plot" });
    const status = el("p", { className: "cw-status" });
    function draw() {
      const d = defaults[game.value];
      const eta = Number(lr.value);
      const box = game.value === "squared distance";
      const lo = box ? -0.1 : -2.5, hi = box ? 1.1 : 2.5;
      const ctx = plot.getContext("2d");
      const dark = document.body.getAttribute("data-md-color-scheme") === "slate";
      ctx.fillStyle = dark ? "#1e2129" : "#fff"; ctx.fillRect(0, 0, 360, 360);
      const px = (v) => ((v - lo) / (hi - lo)) * 360, py = (v) => 360 - ((v - lo) / (hi - lo)) * 360;
      ctx.strokeStyle = dark ? "#555" : "#ccc"; ctx.beginPath();
      ctx.moveTo(px(0), 0); ctx.lineTo(px(0), 360); ctx.moveTo(0, py(0)); ctx.lineTo(360, py(0)); ctx.stroke();
      const runs = { simultaneous: "#d62728", alternating: "#1f77b4" };
      const ends = {};
      for (const [mode, color] of Object.entries(runs)) {
        const path = play(game.value, mode, eta, d.steps, d.x0, d.y0);
        ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
        path.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
        ctx.stroke();
        const [x, y] = path[path.length - 1];
        ends[mode] = { end: `(${x.toFixed(3)}, ${y.toFixed(3)})`, dist: Math.hypot(x, y).toFixed(3) };
      }
      ctx.fillStyle = dark ? "#eee" : "#000"; ctx.beginPath(); ctx.arc(px(d.x0), py(d.y0), 3, 0, 2 * Math.PI); ctx.fill();
      fill(status, "play_status", {
        steps: d.steps, start: `(${d.x0}, ${d.y0})`, eta: eta.toFixed(2),
        end_s: ends.simultaneous.end, dist_s: ends.simultaneous.dist, end_a: ends.alternating.end, dist_a: ends.alternating.dist,
      });
    }
    game.addEventListener("change", () => { lr.value = defaults[game.value].lr; draw(); });
    lr.addEventListener("input", draw);
    lr.value = defaults[game.value].lr;
    root.replaceChildren(el("div", { className: "cw-ui" }, [
      el("div", { className: "cw-controls" }, [
        el("label", {}, [said("span", { className: "cw-label" }, "play_game"), " ", game]),
        el("label", {}, [said("span", { className: "cw-label" }, "play_step"), " ", lr]),
      ]),
      plot,
      said("p", { className: "cw-hint" }, "play_hint"),
      status,
    ]));
    draw();
  }

  const FIGURES = { "latent-explorer": latentExplorer, "draw-digit": drawDigit, "minimax-playground": minimaxPlayground };

  // Figures start on first use (a click or touch), so a page that is only read fetches no weights.
  function init() {
    document.querySelectorAll(".cw-figure:not([data-ready])").forEach((root) => {
      root.dataset.ready = "1";
      const run = FIGURES[root.dataset.figure];
      if (!run) return;
      if (root.dataset.figure === "minimax-playground") { run(root); return; }  // no weights: start at once
      const button = root.querySelector(".cw-start");
      if (!button) return;
      button.hidden = false;  // hidden in the HTML: without JavaScript only the still image shows
      button.addEventListener("click", () => run(root).catch((e) => { root.append(String(e)); }), { once: true });
    });
  }

  if (typeof document$ !== "undefined") document$.subscribe(init);  // Material's instant navigation
  else document.addEventListener("DOMContentLoaded", init);
})();
