// movierec page: ask for top-10, send like/watched clicks, drop the clicked movie from the list.
"use strict";
const $ = (id) => document.getElementById(id);
const GENRES = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
  "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"];
let currentUser = null;   // the id clicks are sent for
let newUserId = null;     // a fresh id for "new user" (unknown to the model -> cold start)

function mode() { return document.querySelector('input[name="mode"]:checked').value; }

function renderGenres() {
  const box = $("genre-box");
  for (const g of GENRES) {
    const label = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.value = g; cb.name = "genre";
    label.append(cb, " " + g);
    box.append(label);
  }
  syncMode();
}

function syncMode() {
  const isNew = mode() === "new";
  $("user-id").disabled = isNew;
  $("genre-box").classList.toggle("disabled", !isNew);
  for (const cb of document.querySelectorAll('input[name="genre"]')) cb.disabled = !isNew;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function errorText(resp) {
  try { const body = await resp.json(); return body.error || JSON.stringify(body); }
  catch { return resp.statusText; }
}

async function load() {
  let url;
  if (mode() === "new") {
    if (newUserId === null) newUserId = 900000000 + Math.floor(Math.random() * 99999999);
    currentUser = newUserId;
    const genres = [...document.querySelectorAll('input[name="genre"]:checked')].map((cb) => cb.value);
    url = `/recommendations/${currentUser}?k=10` + (genres.length ? `&genres=${encodeURIComponent(genres.join(","))}` : "");
  } else {
    const raw = $("user-id").value.trim();
    if (!/^[1-9][0-9]*$/.test(raw)) { status("Type a positive whole number as user id.", true); return; }
    currentUser = Number(raw);
    url = `/recommendations/${currentUser}?k=10`;
  }
  status("Loading…");
  const resp = await fetch(url, { headers: { Accept: "application/json" } });
  if (!resp.ok) { status(`Could not load recommendations: ${await errorText(resp)}`, true); return; }
  render(await resp.json());
  status("");
  await Promise.all([loadNewMovies(), loadTrending()]);
}

async function loadTrending() {
  // what the stream job counts as hot right now; the row is hidden while nothing is trending
  const resp = await fetch("/trending?k=5", { headers: { Accept: "application/json" } });
  const items = resp.ok ? (await resp.json()).items.filter((m) => m.title) : [];
  const list = $("trending-recs");
  list.replaceChildren(...items.map((m) => {
    const li = document.createElement("li");
    li.dataset.movieId = m.movie_id;
    li.textContent = `${m.title} · ${m.clicks} click${m.clicks === 1 ? "" : "s"}, ${m.likes} like${m.likes === 1 ? "" : "s"}`;
    return li;
  }));
  $("trending-section").hidden = items.length === 0;
}

async function loadNewMovies() {
  // this week's added movies in the model's order for this user; the row is hidden when there are none
  const resp = await fetch(`/catalog/new?user_id=${currentUser}&k=5`, { headers: { Accept: "application/json" } });
  const items = resp.ok ? (await resp.json()).items : [];
  $("new-recs").replaceChildren(...items.map((m) => movieItem(m, null)));
  $("new-section").hidden = items.length === 0;
}

function render(data) {
  $("model-badge").textContent = `model: ${data.model.name} v${data.model.version}` +
    (data.variant === "challenger" ? " (challenger arm)" : "");
  $("model-badge").dataset.version = data.model.version;
  $("model-badge").dataset.variant = data.variant;
  const labels = {
    personalized: "personalized for you",
    personalized_from_clicks: "personalized from your clicks",
    cold_start: "popular picks (cold start)",
  };
  const how = labels[data.strategy] || data.strategy;
  const fresh = data.folded_clicks ? ` (${data.folded_clicks} fresh click${data.folded_clicks > 1 ? "s" : ""} used)` : "";
  $("strategy").textContent = `User ${data.user_id}: ${how}${fresh}` + (data.genres.length ? ` in ${data.genres.join(", ")}` : "");
  $("strategy").dataset.strategy = data.strategy;
  $("recs").replaceChildren(...data.items.map((m) => movieItem(m, data.request_id)));
  if (!data.items.length) status("Nothing left to recommend.");
}

function movieItem(m, requestId) {
  const li = document.createElement("li");
  li.dataset.movieId = m.movie_id;
  const info = document.createElement("div");
  const title = document.createElement("div");
  title.className = "title";
  title.textContent = m.title;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${m.genres.join(" · ")}${m.year ? " · " + m.year : ""} · score ${m.score.toFixed(3)}`;
  info.append(title, meta);
  const actions = document.createElement("div");
  actions.className = "actions";
  for (const [event, text] of [["like", "like"], ["watch", "watched"]]) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = event === "like" ? "" : "secondary";
    b.dataset.event = event;
    b.addEventListener("click", () => sendClick(li, m, event, actions, requestId));
    actions.append(b);
  }
  li.append(info, actions);
  return li;
}

function newEventId() {
  // randomUUID needs a secure context (loopback is one); getRandomValues works everywhere
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function sendClick(li, movie, event, actions, requestId) {
  for (const b of actions.querySelectorAll("button")) b.disabled = true;
  // one id per intended click: pressing again after a failure resends the same event, which lands once
  const key = `event_${event}`;
  li.dataset[key] ||= newEventId();
  const resp = await fetch("/click", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ event_id: li.dataset[key], user_id: currentUser, movie_id: movie.movie_id, event, source: "web",
                           ...(requestId ? { request_id: requestId } : {}) }),
  });
  if (resp.status === 202) {
    li.remove();
    await load();  // the server leaves the clicked movie out from now on
    status(`Noted: ${event === "like" ? "liked" : "watched"} “${movie.title}”.`);
  } else {
    for (const b of actions.querySelectorAll("button")) b.disabled = false;
    status(`Click not recorded (${resp.status}): ${await errorText(resp)}`, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  renderGenres();
  for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", syncMode);
  $("who").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
});
