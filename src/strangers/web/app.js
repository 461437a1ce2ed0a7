// The chatter page: start screen, age question, chat over /v1/ws, video over WebRTC
// with the stranger's video sampled for the server's safety checks (docs/design.md §6).
// Protocol: src/strangers/core/messages.py. Every visible string comes from i18n/<lang>.json.

const LANGUAGES = ["en", "fr", "es"];
const PROTOCOL_VERSION = 2;
const MAX_INTERESTS = 10;
const MAX_INTEREST_CHARS = 32;
const TYPING_IDLE_MS = 3000;
const AUTO_NEXT_MS = 1000;
const PING_MS = 25000; // keeps idle sockets open through reverse proxies
const MAX_APPEAL_CHARS = 2000;
const APPEAL_CODES = ["invalid", "unknown_case", "not_yours", "already_appealed", "rate_limited"];
const COUNTER_FROM = 0.8; // show the character counter past this share of the limit
const STORE = {
  device: "strangers.device",
  refused: "strangers.refused",
  language: "strangers.language",
  auto: "strangers.auto-next",
  memory: "strangers.memory",
};

const $ = (id) => document.getElementById(id);
const ui = {
  app: $("app"),
  language: $("language"),
  start: $("start"),
  form: $("start-form"),
  month: $("birth-month"),
  year: $("birth-year"),
  birthProblem: $("birth-problem"),
  interestList: $("interest-list"),
  interestInput: $("interest-input"),
  interestHint: $("interest-hint"),
  refused: $("refused"),
  refusedText: $("refused-text"),
  chat: $("chat"),
  log: $("log"),
  typingText: $("typing-text"),
  auto: $("auto-next"),
  save: $("save-log"),
  composer: $("composer"),
  skip: $("skip"),
  skipLabel: $("skip-label"),
  message: $("message"),
  send: $("send"),
  counter: $("counter"),
  report: $("report"),
  reportDialog: $("report-dialog"),
  reportForm: $("report-form"),
  reportNote: $("report-note"),
  reportNoteLabel: $("report-note-label"),
  reportProblem: $("report-problem"),
  reportCancel: $("report-cancel"),
  reportLead: $("report-lead"),
  recentStrangers: $("recent-strangers"),
  recentList: $("recent-list"),
  banned: $("banned"),
  bannedReason: $("banned-reason"),
  bannedCase: $("banned-case"),
  bannedUntil: $("banned-until"),
  decisions: $("decisions"),
  decisionList: $("decision-list"),
  decisionsClose: $("decisions-close"),
  appeal: $("appeal"),
  appealForm: $("appeal-form"),
  appealText: $("appeal-text"),
  appealProblem: $("appeal-problem"),
  appealSend: $("appeal-send"),
  videoButton: $("video-button"),
  textButton: $("text-button"),
  videoUnavailable: $("video-unavailable"),
  videoProblem: $("video-problem"),
  videoProblemText: $("video-problem-text"),
  textInstead: $("text-instead"),
  stage: $("stage"),
  devBanner: $("dev-banner"),
  remoteVideo: $("remote-video"),
  remoteOverlay: $("remote-overlay"),
  localVideo: $("local-video"),
  local: $("local"),
  faceNotice: $("face-notice"),
  mic: $("mic"),
  camera: $("camera"),
  cameraDialog: $("camera-dialog"),
  cameraKeep: $("camera-keep"),
  remote: $("remote"),
  remoteState: $("remote-state"),
  remoteStateText: $("remote-state-text"),
  change: $("change"),
  forget: $("forget"),
  memoryStatus: $("memory-status"),
};

const store = {
  get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null; // storage disabled: nothing is remembered
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, value);
    } catch {
      // storage disabled: nothing is remembered
    }
  },
  remove(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      // storage disabled: nothing was remembered
    }
  },
};

// --- what this device remembers for the chatter ------------------------------------
// The age answer (birth month and year) and the interests, kept on this device only
// (localStorage, never sent anywhere but in the hello and find they fill in), so that
// starting over is one tap (issue 19, point 4); "Forget me" clears them. A refusal drops
// the remembered birth date: when the question comes back it is asked afresh.
const deviceMemory = {
  read() {
    try {
      const saved = JSON.parse(store.get(STORE.memory));
      if (!saved || typeof saved !== "object") return {};
      const month = Number(saved.birth_month);
      const year = Number(saved.birth_year);
      const tags = Array.isArray(saved.interests) ? saved.interests.filter((tag) => typeof tag === "string") : [];
      return {
        birth: Number.isInteger(month) && Number.isInteger(year) ? { birth_month: month, birth_year: year } : null,
        interests: tags.slice(0, MAX_INTERESTS),
      };
    } catch {
      return {}; // unreadable: nothing remembered
    }
  },
  remember(birthAnswer, tags) {
    store.set(STORE.memory, JSON.stringify({ ...birthAnswer, interests: tags }));
  },
  forgetBirth() {
    const { interests: tags = [] } = this.read();
    if (tags.length) store.set(STORE.memory, JSON.stringify({ interests: tags }));
    else store.remove(STORE.memory);
  },
  forget() {
    store.remove(STORE.memory);
  },
};

// --- message catalogue --------------------------------------------------------------

let language = "en";
let catalogue = {};
const catalogues = new Map();

function format(value) {
  if (Array.isArray(value)) return new Intl.ListFormat(language, { type: "conjunction" }).format(value);
  if (typeof value === "number") return new Intl.NumberFormat(language).format(value);
  if (typeof value?.minutes === "number") {
    const style = { style: "unit", unit: "minute", unitDisplay: "long" };
    return new Intl.NumberFormat(language, style).format(value.minutes);
  }
  if (typeof value?.time === "number") {
    const style = { dateStyle: "long", timeStyle: "short" };
    return new Intl.DateTimeFormat(language, style).format(new Date(value.time * 1000));
  }
  return String(value ?? "");
}

function t(key, args = {}) {
  return (catalogue[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => format(args[name]));
}

// Elements carry their catalogue key (and arguments) so a language switch retranslates them.
function translate(el) {
  const args = el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : {};
  if (el.dataset.i18n) el.textContent = t(el.dataset.i18n, args);
  if (el.dataset.i18nPlaceholder) el.placeholder = t(el.dataset.i18nPlaceholder, args);
  if (el.dataset.i18nLabel) el.setAttribute("aria-label", t(el.dataset.i18nLabel, args));
}

function localise(el, key, args) {
  el.dataset.i18n = key;
  if (args) el.dataset.i18nArgs = JSON.stringify(args);
  else delete el.dataset.i18nArgs;
  translate(el);
}

async function setLanguage(code) {
  if (!catalogues.has(code)) {
    const response = await fetch(`/static/i18n/${code}.json`);
    catalogues.set(code, await response.json());
  }
  catalogue = catalogues.get(code);
  language = code;
  document.documentElement.lang = code;
  ui.language.value = code;
  document.querySelectorAll("[data-i18n], [data-i18n-placeholder], [data-i18n-label]").forEach(translate);
  const monthName = new Intl.DateTimeFormat(code, { month: "long" });
  for (const option of ui.month.options) {
    if (option.value) option.textContent = monthName.format(new Date(2000, option.value - 1, 1));
  }
}

function preferredLanguage() {
  const saved = store.get(STORE.language);
  if (LANGUAGES.includes(saved)) return saved;
  const browser = (navigator.languages ?? [navigator.language])
    .map((tag) => tag.slice(0, 2).toLowerCase())
    .find((code) => LANGUAGES.includes(code));
  return browser ?? "en";
}

// --- screens ------------------------------------------------------------------------

function show(screen) {
  for (const el of [ui.start, ui.refused, ui.banned, ui.chat, $("legal")]) el.hidden = el !== screen;
  document.body.dataset.screen = screen.id;
}

// A refusal lasts until `until` (Unix time), across reloads (it is kept in storage):
// `too_young` and `adults_only` answer the age question; `age_check` follows an age
// under 18 stated in the adult pool, and says in how many minutes the question comes
// back. Once `until` has passed the start screen (the age question) shows again.
const REFUSALS = ["too_young", "adults_only", "age_check"];
const REFUSAL_TICK_MS = 15000;
let refusalTimer = 0;

function minutesLeft(until) {
  return Math.max(1, Math.ceil((until * 1000 - Date.now()) / 60000));
}

function showRefused(reason, until) {
  const key = `refused.${REFUSALS.includes(reason) ? reason : "too_young"}`;
  const renderText = () => localise(ui.refusedText, key, { wait: { minutes: minutesLeft(until) } });
  renderText();
  renderRefusalUntil(reason, until);
  show(ui.refused);
  clearTimeout(refusalTimer);
  if (typeof until !== "number") return;
  // Short steps rather than one long timeout: they survive a sleeping laptop, and keep
  // the minutes of an age check current.
  const tick = () => {
    const left = until * 1000 - Date.now();
    if (left > 0) {
      if (reason === "age_check") renderText();
      refusalTimer = setTimeout(tick, Math.min(REFUSAL_TICK_MS, left + 50));
      return;
    }
    store.remove(STORE.refused);
    for (const select of [ui.month, ui.year]) {
      select.value = ""; // the question is asked again, not answered from before
      select.removeAttribute("aria-invalid");
    }
    ui.birthProblem.hidden = true;
    show(ui.start);
    ui.month.focus();
  };
  tick();
}

function storedRefusal() {
  try {
    const refusal = JSON.parse(store.get(STORE.refused));
    return refusal && refusal.until * 1000 > Date.now() ? refusal : null;
  } catch {
    return null;
  }
}

// Ban notice (docs/design.md §1): the reason as the server wrote it (text, never HTML), the case,
// when it ends, and an appeal form when there is a case to appeal.
function showBanned(message) {
  ui.bannedReason.textContent = String(message.reason ?? "");
  const caseId = message.case == null ? null : String(message.case);
  ui.bannedCase.hidden = !caseId;
  if (caseId) localise(ui.bannedCase, "banned.case", { case: caseId });
  if (typeof message.until === "number") localise(ui.bannedUntil, "banned.until", { time: { time: message.until } });
  else localise(ui.bannedUntil, "banned.permanent");
  ui.appeal.hidden = !caseId;
  ui.appealForm.hidden = false;
  ui.appealForm.dataset.case = caseId ?? "";
  renderBanExtras(message);
  show(ui.banned);
}

// A moderator's decision about this device since its last visit (a warning, an appeal's
// outcome: DSA arts. 17 and 20(4)), shown above whatever screen follows. The statement is
// the moderator's own words: text, never HTML.
const DECISION_KINDS = ["warning", "appeal_upheld", "appeal_overturned"];

function showDecision(message) {
  if (!DECISION_KINDS.includes(message.kind)) return;
  const item = document.createElement("article");
  item.className = `decision ${message.kind}`;
  item.dataset.kind = message.kind;
  const line = document.createElement("p");
  localise(line, `decision.${message.kind}`, { case: String(message.case ?? "") });
  item.append(line);
  if (message.text) {
    const statement = document.createElement("blockquote");
    statement.textContent = String(message.text);
    item.append(statement);
  }
  ui.decisionList.append(item);
  ui.decisions.hidden = false;
}

ui.decisionsClose.addEventListener("click", () => {
  ui.decisions.hidden = true;
  ui.decisionList.replaceChildren();
});

function appealProblem(key) {
  ui.appealProblem.hidden = !key;
  ui.appealText.setAttribute("aria-invalid", String(Boolean(key)));
  if (key) localise(ui.appealProblem, key);
}

ui.appealForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (ui.appealSend.disabled) return;
  const text = ui.appealText.value.trim();
  if (!text || text.length > MAX_APPEAL_CHARS) {
    appealProblem("appeal.missing");
    ui.appealText.focus();
    return;
  }
  appealProblem(null);
  ui.appealSend.disabled = true;
  let key = "appeal.error.generic";
  try {
    const response = await fetch("/v1/appeals", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ device: store.get(STORE.device), case: ui.appealForm.dataset.case, text }),
    });
    if (response.status === 201) {
      appealSent();
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (APPEAL_CODES.includes(body?.code)) key = `appeal.error.${body.code}`;
  } catch {
    // network failure: the generic line
  } finally {
    ui.appealSend.disabled = false;
  }
  appealProblem(key);
});

// --- start form ---------------------------------------------------------------------

let interests = [];

function fillBirthSelects() {
  for (let month = 1; month <= 12; month += 1) ui.month.add(new Option("", String(month)));
  const thisYear = new Date().getFullYear();
  for (let year = thisYear - YOUNGEST_LISTED; year >= thisYear - OLDEST_LISTED; year -= 1) {
    ui.year.add(new Option(year, year));
  }
}

function addInterests(text) {
  for (const raw of text.split(",")) {
    const tag = raw.toLowerCase().split(/\s+/).filter(Boolean).join(" ").slice(0, MAX_INTEREST_CHARS);
    if (tag && !interests.includes(tag) && interests.length < MAX_INTERESTS) interests.push(tag);
  }
  renderInterests();
}

function renderInterests() {
  ui.interestList.replaceChildren(
    ...interests.map((tag) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = tag;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.dataset.i18nLabel = "interests.remove";
      remove.dataset.i18nArgs = JSON.stringify({ tag });
      translate(remove);
      remove.addEventListener("click", () => {
        interests = interests.filter((other) => other !== tag);
        renderInterests();
        ui.interestInput.focus();
      });
      item.append(name, remove);
      return item;
    }),
  );
  localise(ui.interestHint, interests.length >= MAX_INTERESTS ? "interests.full" : "interests.hint");
}

ui.interestInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.isComposing && ui.interestInput.value.trim()) {
    event.preventDefault(); // Enter on an empty field submits the form instead
    addInterests(ui.interestInput.value);
    ui.interestInput.value = "";
  }
});

ui.interestInput.addEventListener("input", () => {
  const value = ui.interestInput.value;
  const cut = value.lastIndexOf(",");
  if (cut < 0) return;
  addInterests(value.slice(0, cut));
  ui.interestInput.value = value.slice(cut + 1).trimStart();
});

// A birth date corrected after the error stops being shown as invalid at once.
for (const select of [ui.month, ui.year]) {
  select.addEventListener("change", () => {
    if (select.value) select.setAttribute("aria-invalid", "false");
    if (ui.month.value && ui.year.value) ui.birthProblem.hidden = true;
  });
}

ui.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const wantsVideo = event.submitter === ui.videoButton;
  const missing = [ui.month, ui.year].find((select) => !select.value);
  ui.birthProblem.hidden = !missing;
  for (const select of [ui.month, ui.year]) select.setAttribute("aria-invalid", String(!select.value));
  if (missing) {
    missing.focus();
    return;
  }
  addInterests(ui.interestInput.value);
  ui.interestInput.value = "";
  if (!(await confirmBirth(Number(ui.year.value), Number(ui.month.value)))) return;
  birth = { birth_year: Number(ui.year.value), birth_month: Number(ui.month.value) };
  deviceMemory.remember(birth, interests);
  clearLine(ui.memoryStatus);
  if (wantsVideo) {
    if (ui.videoButton.disabled) return;
    ui.videoButton.disabled = true;
    const ok = await openCamera();
    ui.videoButton.disabled = false;
    if (!ok) return;
  }
  startChat(wantsVideo ? "video" : "text");
});

ui.textInstead.addEventListener("click", () => startChat("text"));

// Prefills the start screen with what this device remembers.
function recall() {
  const { birth: remembered, interests: tags = [] } = deviceMemory.read();
  if (remembered) {
    ui.month.value = String(remembered.birth_month);
    ui.year.value = String(remembered.birth_year);
    if (!ui.month.value || !ui.year.value) ui.month.value = ui.year.value = ""; // out of the lists
    // Remembered only once confirmed (the submit handler): not asked to confirm it again.
    else confirmedBirth = `${remembered.birth_year}-${remembered.birth_month}`;
  }
  interests = [];
  addInterests(tags.join(","));
}

ui.forget.addEventListener("click", () => {
  deviceMemory.forget();
  store.remove(APPEAL_DRAFT); // an unsent appeal's words are the chatter's too
  confirmedBirth = null;
  for (const select of [ui.month, ui.year]) {
    select.value = "";
    select.removeAttribute("aria-invalid");
  }
  ui.birthProblem.hidden = true;
  interests = [];
  ui.interestInput.value = "";
  renderInterests();
  localise(ui.memoryStatus, "memory.forgotten");
});

function startChat(next) {
  // A session speaks for the birth date of its hello: a changed answer needs a new one.
  const answered = helloBirth ?? birth;
  if (socket && (answered.birth_year !== birth.birth_year || answered.birth_month !== birth.birth_month)) {
    disconnect();
    matchId = null;
    setPhase("ended");
  }
  if (next !== "video") closeCamera(); // a text chat never keeps the camera on
  mode = next;
  ui.videoProblem.hidden = true;
  ui.stage.hidden = mode !== "video";
  document.body.dataset.mode = mode;
  show(ui.chat);
  ui.skip.focus();
  search();
}

// "Change" (issue 19, point 4): ends the chat or the search and goes back to the start
// screen with the current choices, to change the interests or the mode. The session
// stays open (a stranger who just left can still be reported) unless the birth date
// changes there.
ui.change.addEventListener("click", () => {
  clearTimeout(autoTimer);
  if (phase === "connecting") {
    disconnect();
    setPhase("ended");
  } else if ((phase === "waiting" || phase === "chatting") && !pending) {
    pending = true;
    send({ type: "stop" });
  }
  closeCamera(); // the camera's light goes off with the chat
  show(ui.start);
  (mode === "video" && !ui.videoButton.hidden ? ui.videoButton : ui.textButton).focus();
});

ui.language.addEventListener("change", () => {
  store.set(STORE.language, ui.language.value);
  setLanguage(ui.language.value);
});

// --- chat log -----------------------------------------------------------------------

// Follows the conversation unless the reader has scrolled up; one's own line always shows.
function append(el, follow = false) {
  const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
  ui.log.append(el);
  if (follow || atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

// Lines about the page's own progress ("Connecting…", "Looking for…"): shown, but not
// part of the conversation, so neither saved nor copied with it.
const TRANSIENT_STATUSES = ["status.connecting", "status.waiting", "status.auto"];
const SLOW_DOWN = "error.rate_limited";
let slowDownLine = null; // the one "Slow down" line, updated rather than repeated

function status(key, args, kind = "status") {
  if (key === SLOW_DOWN && slowDownLine?.isConnected) {
    localise(slowDownLine, key, args);
    if (slowDownLine !== ui.log.lastElementChild) append(slowDownLine); // moves it to the end
    slowDownLine.classList.remove("again");
    void slowDownLine.offsetWidth; // restarts its animation: the update is seen
    slowDownLine.classList.add("again");
    return;
  }
  const line = document.createElement("p");
  line.className = kind;
  if (TRANSIENT_STATUSES.includes(key)) line.dataset.transient = "true";
  localise(line, key, args);
  if (key === SLOW_DOWN) slowDownLine = line;
  append(line);
}

function chatLine(who, text) {
  const line = document.createElement("p");
  line.className = `line ${who}`;
  const label = document.createElement("strong");
  localise(label, `label.${who}`);
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text; // peer text is only ever set as text, never parsed as HTML
  line.append(label, " ", body);
  append(line, who === "you");
}

// A stranger's line withheld by the safety checks (docs/design.md §6, text): its place in the
// conversation, with a placeholder instead of the text.
function hiddenLine(why) {
  const line = document.createElement("p");
  line.className = "line stranger withheld";
  line.dataset.hidden = why;
  const label = document.createElement("strong");
  localise(label, "label.stranger");
  const body = document.createElement("em");
  body.className = "text";
  localise(body, `hidden.${why}`);
  line.append(label, " ", body);
  append(line);
}

// Safety nudges (docs/design.md §1): a short, calm notice about what the stranger wrote, once
// per kind per match, set apart from the conversation and announced politely.
const NUDGES = [
  "contact",
  "asks_age",
  "asks_alone",
  "secrecy",
  "asks_pictures",
  "asks_camera",
  "body",
  "gifts",
  "meet",
  "other_app",
];
const nudged = new Set(); // the kinds shown in the current match

function nudge(kind) {
  if (nudged.has(kind)) return;
  nudged.add(kind);
  const line = document.createElement("p");
  line.className = "nudge";
  line.dataset.kind = kind;
  line.setAttribute("role", "status");
  localise(line, `nudge.${kind}`);
  append(line, true); // a safety notice always comes into view
}

// A new search after a chat starts below a rule, so each chat reads on its own.
function separate() {
  if (ui.log.lastElementChild) append(document.createElement("hr"));
}

function showTyping(active) {
  ui.typingText.hidden = !active;
}

ui.save.addEventListener("click", () => {
  const lines = [...ui.log.children].filter((line) => !line.dataset.transient);
  const text = lines.map((line) => line.textContent).join("\n");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([`${text}\n`], { type: "text/plain;charset=utf-8" }));
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
  link.download = `${t("chat.file")}-${stamp}.txt`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href));
});

// --- session ------------------------------------------------------------------------
// phase: connecting | waiting | chatting | ended | closed | refused. `pending` is set
// while a find/stop/skip awaits the server's answer, so repeated presses send nothing.

let socket = null;
let birth = null;
let helloBirth = null; // the birth date the open session's hello carried
let phase = "ended";
let pending = false;
let confirming = false;
let matchId = null;
let band = "adult";
let reportAwaiting = 0; // reports sent whose `reported` (or error) has not come yet
let autoTimer = 0;
let pingTimer = 0;
let powWorker = null; // solving the current connection's challenge
let typingTimer = 0;
let typingActive = false;
// Mirrors the server's token bucket (welcome.limits), so a line the server would refuse
// is never shown as sent; the server stays the authority.
let bucket = { rate: 5, burst: 10, tokens: 10, stamp: 0 };

function takeToken() {
  const now = performance.now() / 1000;
  bucket.tokens = Math.min(bucket.burst, bucket.tokens + (now - bucket.stamp) * bucket.rate);
  bucket.stamp = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return (1 - bucket.tokens) / bucket.rate;
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function setPhase(next) {
  const hadFocus = ui.composer.contains(document.activeElement) && document.activeElement !== ui.skip;
  phase = next;
  pending = false;
  confirming = false;
  clearTimeout(autoTimer); // any change of phase supersedes a pending automatic search
  const chatting = next === "chatting";
  if (!chatting) {
    stopFrames(); // no frame is ever posted from a match that is over
    closePeer(); // a match's peer connection never outlives the match
  }
  endingReason = null;
  // Past its match a blur's line goes, unless the video was flagged: then the reason
  // stays (next to the status line) until the next search.
  if (!chatting && !FLAGGED.includes(blur.reason)) clearLine(ui.remoteOverlay);
  ui.message.disabled = !chatting;
  ui.send.disabled = !chatting;
  // Without a socket the session is gone, and its recent strangers with it (the server
  // forgets them too); otherwise a stranger who just left can still be reported.
  if (!socket) forgetStrangers();
  ui.report.disabled = !chatting && !lastStranger();
  renderRecent();
  if (!chatting) {
    showTyping(false);
    stopTyping();
    if (hadFocus) ui.skip.focus();
  }
  renderSkip();
  renderRemoteState();
  renderWaitState();
}

// What the video area shows when no stranger's video is there (issue 19, point 8): an
// animated "Looking for someone…" while connecting or waiting, never a black screen.
function renderRemoteState() {
  const searching = phase === "connecting" || phase === "waiting";
  const state = phase === "chatting" ? "live" : searching ? "searching" : phase === "closed" ? "offline" : "idle";
  ui.remote.dataset.state = state;
  ui.remoteState.hidden = state === "live";
  if (state !== "live") localise(ui.remoteStateText, `video.${state}`);
}

// On a touch screen the skip button is "Next": one tap ends the chat and looks for the
// next stranger (issue 19, point 4). With a keyboard and a mouse it stays Omegle's
// Stop → Really? (Esc twice), so that a stray key press never ends a chat.
const COARSE_POINTER = matchMedia("(pointer: coarse)");
const oneTapSkip = () => COARSE_POINTER.matches;

function renderTouch() {
  document.body.dataset.touch = oneTapSkip() ? "true" : "false";
  renderSkip();
}

COARSE_POINTER.addEventListener("change", renderTouch);

function renderSkip() {
  const key = {
    connecting: "skip.stop",
    waiting: "skip.stop",
    chatting: confirming ? "skip.really" : oneTapSkip() ? "skip.next" : "skip.stop",
    ended: "skip.new",
    closed: "skip.reconnect",
  }[phase];
  if (key) localise(ui.skipLabel, key);
  ui.skip.classList.toggle("confirm", confirming);
}

function connect(quiet = false) {
  stopReconnectTimers(); // this is the attempt: no other may start behind it
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`);
  socket = ws;
  setPhase("connecting");
  if (!quiet) status("status.connecting");
  // The server speaks first: its challenge (handlers.challenge), then hello.
  ws.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // not JSON: nothing to act on
    }
    if (socket === ws && Object.hasOwn(handlers, message?.type)) handlers[message.type](message);
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return; // closed on purpose
    socket = null;
    helloBirth = null;
    clearInterval(pingTimer);
    stopProving();
    if (phase === "refused") return;
    connectionLost();
  });
}

function disconnect() {
  const ws = socket;
  socket = null;
  helloBirth = null;
  clearInterval(pingTimer);
  stopProving();
  ws?.close();
}

// Admission (docs/protocol.md): the hello carries a proof of work for this connection's
// challenge, found in a worker so the page stays responsive; all the chatter sees is
// "Connecting…". A worker per challenge: a search cannot be interrupted, only ended.
function prove(ws, challenge, bits) {
  stopProving();
  const worker = new Worker(new URL("pow-worker.js", import.meta.url));
  powWorker = worker;
  worker.addEventListener("message", (event) => {
    stopProving(worker);
    if (socket !== ws || event.data?.challenge !== challenge) return; // a connection since gone
    send({
      type: "hello",
      version: PROTOCOL_VERSION,
      proof: { challenge, nonce: event.data.nonce },
      device: store.get(STORE.device),
      ...birth,
      language,
    });
    helloBirth = { ...birth };
    if (mode === "text" && lookOnWelcome) find(); // pipelined behind hello: the server takes it once the session is open
  });
  worker.addEventListener("error", () => {
    stopProving(worker);
    if (socket === ws) ws.close(); // shown as a lost connection, which offers a retry
  });
  worker.postMessage({ challenge, bits });
}

// Ends `worker` (by default the current one); a newer one is left to its search.
function stopProving(worker = powWorker) {
  worker?.terminate();
  if (powWorker === worker) powWorker = null;
}

function find() {
  pending = true;
  send({ type: "find", mode, interests });
}

function search() {
  lookOnWelcome = true;
  reconnect.active = false;
  clearTimeout(autoTimer);
  if (ui.chat.hidden) return; // back on the start screen ("Change"): nothing to look for
  clearLine(ui.remoteOverlay);
  separate();
  if (socket) find();
  else connect(); // find follows the welcome
}

// `tapped`: a touch (a tap on the button, a swipe on the video): one tap skips.
function onSkip(tapped = false) {
  if (pending) return;
  if (phase === "connecting") {
    disconnect();
    status("status.stopped");
    setPhase("ended");
  } else if (phase === "waiting") {
    pending = true;
    send({ type: "stop" });
  } else if (phase === "chatting" && (tapped || oneTapSkip())) {
    pending = true;
    send({ type: "skip" }); // Next: the server ends this chat and looks for the next stranger
  } else if (phase === "chatting" && !confirming) {
    confirming = true;
    renderSkip();
  } else if (phase === "chatting") {
    pending = true;
    send({ type: ui.auto.checked ? "skip" : "stop" });
  } else if (phase === "closed") {
    retryNow();
  } else if (phase === "ended") {
    search();
  }
}

const handlers = {
  challenge(message) {
    if (phase !== "connecting" || typeof message.challenge !== "string") return;
    prove(socket, message.challenge, Number(message.bits) || 0);
  },
  welcome(message) {
    store.set(STORE.device, message.device);
    band = message.band === "teen" ? "teen" : "adult";
    ui.message.maxLength = message.limits?.message_chars ?? ui.message.maxLength;
    const rate = message.limits?.messages_per_second ?? bucket.rate;
    const burst = message.limits?.message_burst ?? bucket.burst;
    bucket = { rate, burst, tokens: burst, stamp: performance.now() / 1000 };
    clearInterval(pingTimer);
    let ping = 0;
    pingTimer = setInterval(() => send({ type: "ping", id: (ping += 1) }), PING_MS);
    video = {
      enabled: message.video !== false,
      relayOnly: message.relay_only !== false,
      iceServers: (message.ice_servers ?? []).map((server) => ({
        urls: server.urls,
        ...(server.username != null && { username: server.username }),
        ...(server.credential != null && { credential: server.credential }),
      })),
    };
    renderVideoAvailability();
    ui.devBanner.hidden = video.relayOnly;
    if (reconnected()) return;
    if (mode !== "video") return;
    if (video.enabled) find(); // video waits for the welcome: the server may not offer it
    else {
      mode = "text"; // "New" then starts a text chat
      ui.stage.hidden = true;
      document.body.dataset.mode = mode;
      status("video.unavailable", undefined, "status problem");
      setPhase("ended");
    }
  },
  refused(message) {
    // At hello, or mid-chat for an age check (an age under 18 stated in the adult pool).
    store.set(STORE.device, message.device);
    store.set(STORE.refused, JSON.stringify({ reason: message.reason, until: message.until }));
    deviceMemory.forgetBirth(); // the question is asked afresh when it comes back
    disconnect();
    matchId = null;
    endingReason = "refused";
    setPhase("refused");
    closeCamera();
    showRefused(message.reason, message.until);
    ui.refusedText.focus(); // the chat's controls are gone: read out why
  },
  banned(message) {
    disconnect(); // may arrive mid-chat (a check flagged this device)
    matchId = null;
    endingReason = "banned";
    setPhase("banned");
    closeCamera();
    showBanned(message);
  },
  decision(message) {
    showDecision(message);
  },
  reported(message) {
    reportAwaiting = Math.max(0, reportAwaiting - 1);
    reportedMatches.add(message.match);
    renderRecent();
    status("status.reported", { case: String(message.case ?? "") });
  },
  waiting() {
    setPhase("waiting");
    status("status.waiting");
    if (ui.chat.hidden) {
      // A Next already on its way when "Change" was pressed: stop looking after all.
      pending = true;
      send({ type: "stop" });
    }
  },
  matched(message) {
    matchId = message.match;
    nudged.clear();
    setPhase("chatting");
    if (mode === "video") {
      mark("matched");
      lastMatch = message.match;
      setBlur(true, "checking", true); // safe start: blurred until the first clean check
      serverBlur = { on: true, reason: "checking" };
      checkedAt = -Infinity;
      showFaceNotice(false);
      openPeer();
      startFrames(message.match, message.frame_token);
    }
    status("status.matched");
    if (message.interests?.length) status("status.common", { list: message.interests });
    if (message.fallback) status("status.fallback");
    ui.message.focus();
  },
  message(message) {
    if (phase !== "chatting") return;
    showTyping(false);
    if (message.hidden) hiddenLine(message.hidden === "contact" ? "contact" : "risk");
    else chatLine("stranger", String(message.text));
  },
  typing(message) {
    showTyping(phase === "chatting" && message.active === true);
  },
  partner_left(message) {
    if (message.match !== matchId) return;
    rememberStranger(matchId);
    matchId = null;
    endingReason = "partner_left";
    status("status.partner_left");
    setPhase("ended");
    if (ui.auto.checked) {
      status("status.auto");
      autoTimer = setTimeout(search, AUTO_NEXT_MS);
    }
  },
  ended(message) {
    if (message.reason === "safety" || message.reason === "no_face") {
      if (message.match && message.match !== matchId) return; // an older match
      // no_face says whose face was not seen (face: own | partner) when the server knows.
      const whose = message.reason === "no_face" && NO_FACE_SIDES.includes(message.face) ? `_${message.face}` : "";
      status(`status.ended_${message.reason}${whose}`, undefined, "status problem");
    } else if (message.reason === "report") status("status.reported_ended");
    else if (message.match && message.match === matchId) status("status.you_left");
    else if (phase === "waiting") status("status.stopped");
    rememberStranger(matchId);
    matchId = null;
    endingReason = String(message.reason ?? "ended");
    if (message.reason === "skip") {
      separate(); // the server's waiting follows
      setPhase("waiting");
    } else {
      setPhase("ended");
    }
  },
  signal(message) {
    if (phase === "chatting" && peer) enqueue(() => onSignal(message));
  },
  blur(message) {
    if (mode !== "video" || message.match == null) return;
    if (message.on === true && message.match === lastMatch) {
      // Also just after its match ended (the end may overtake the blur): the reason stays.
      serverBlur = { on: true, reason: BLUR_REASONS.includes(message.reason) ? message.reason : "hidden" };
      setBlur(true, serverBlur.reason);
    } else if (message.on === false && phase === "chatting" && message.match === matchId) {
      serverBlur = { on: false, reason: "clear" };
      checkedAt = performance.now(); // the server lifts a blur on a check it just made
      setBlur(false, "clear");
    }
  },
  notice(message) {
    if (phase !== "chatting" || (message.match != null && message.match !== matchId)) return;
    if (NUDGES.includes(message.kind)) {
      if (message.active !== false) nudge(message.kind);
      return;
    }
    if (message.kind !== "show_face" || mode !== "video") return;
    mark("notice", { reason: message.kind, active: message.active !== false });
    showFaceNotice(message.active !== false);
  },
  error(message) {
    pending = false;
    if (reportAwaiting && message.code === "not_recent") reportAwaiting -= 1; // shown below
    if (reportAwaiting && message.code === "internal") {
      reportAwaiting -= 1; // the report was not stored
      status("status.report_failed", undefined, "status problem");
      return;
    }
    const code = `error.${message.code}` in catalogue ? message.code : "internal";
    status(`error.${code}`, { seconds: Math.ceil(message.retry_after ?? 1) }, "status problem");
  },
};

// --- video --------------------------------------------------------------------------
// One RTCPeerConnection per match. Both sides add their tracks and offer; offers that
// cross ("glare") are settled without an extra message: the side whose ICE ufrag is the
// smaller is polite, rolls back and answers; the other ignores the crossing offer
// (perfect negotiation, https://w3c.github.io/webrtc-pc/#perfect-negotiation-example).
// All negotiation steps run one at a time through `enqueue`.

let mode = "text";
let video = { enabled: true, relayOnly: true, iceServers: [] };
let localStream = null;
let peer = null; // { pc, queue, ignoring }

// Test hooks: the peer connection, the blur state ({on, reason}) and a timeline of video
// events in the page's own clock ({at: performance.now(), event, match, ...}): matched,
// blur_on / blur_off (reason), partner_frame (the stranger's first decoded frame),
// frame_posted (source, status, code, sent: when it was posted), notice (reason,
// active), ice_restart (state), ice_error (code, text) and ended (reason). The DOM mirrors the blur: data-blur and data-blur-reason
// on #remote-video.
window.strangersVideo = {
  pc: () => peer?.pc ?? null,
  blur: () => ({ ...blur }),
  timeline: () => timeline.map((entry) => ({ ...entry })),
  posting: () => posting, // frames posted whose answer has not come yet
};

function renderVideoAvailability() {
  ui.videoButton.hidden = !video.enabled;
  ui.videoUnavailable.hidden = video.enabled;
}

async function openCamera() {
  if (localStream) return true;
  ui.videoProblem.hidden = true;
  try {
    if (!navigator.mediaDevices?.getUserMedia) throw new DOMException("", "NotFoundError");
    localStream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
  } catch (error) {
    const absent = ["NotFoundError", "OverconstrainedError", "NotReadableError"].includes(error?.name);
    localise(ui.videoProblemText, absent ? "video.no_device" : "video.denied");
    ui.videoProblem.hidden = false;
    ui.textInstead.focus();
    return false;
  }
  ui.localVideo.srcObject = localStream;
  setMic(true);
  setCamera(true);
  return true;
}

function closeCamera() {
  for (const track of localStream?.getTracks() ?? []) track.stop();
  localStream = null;
  ui.localVideo.srcObject = null;
}

// The microphone and camera toggles say their state ("Mic on", "Camera off"), pressed
// while on. Turning the camera off is confirmed first (issue 19, point 8): the stranger
// then sees a blur, and the server ends the chat if no face shows for a while
// (docs/design.md §6, video: no face).
function setMic(on) {
  for (const track of localStream?.getAudioTracks() ?? []) track.enabled = on;
  ui.mic.setAttribute("aria-pressed", String(on));
  localise(ui.mic, on ? "video.mic_on" : "video.mic_off");
}

function setCamera(on) {
  for (const track of localStream?.getVideoTracks() ?? []) track.enabled = on;
  ui.camera.setAttribute("aria-pressed", String(on));
  localise(ui.camera, on ? "video.camera_on" : "video.camera_off");
  ui.local.dataset.camera = on ? "on" : "off";
}

ui.mic.addEventListener("click", () => setMic(ui.mic.getAttribute("aria-pressed") !== "true"));

ui.camera.addEventListener("click", () => {
  if (ui.camera.getAttribute("aria-pressed") !== "true") {
    setCamera(true);
    return;
  }
  ui.cameraDialog.returnValue = "";
  ui.cameraDialog.showModal();
  ui.cameraKeep.focus(); // the safe choice is the default one
});

ui.cameraDialog.addEventListener("close", () => {
  if (ui.cameraDialog.returnValue === "off") setCamera(false);
  ui.camera.focus();
});

function enqueue(step) {
  const current = peer;
  if (!current) return;
  current.queue = current.queue
    .then(() => (peer === current ? step(current) : undefined))
    .catch((error) => console.warn("strangers: video negotiation", error));
}

function ufrag(description) {
  return /^a=ice-ufrag:(.*)$/m.exec(description?.sdp ?? "")?.[1]?.trim() ?? "";
}

function openPeer() {
  closePeer();
  if (!localStream) return;
  const pc = new RTCPeerConnection({
    iceServers: video.iceServers,
    iceTransportPolicy: video.relayOnly ? "relay" : "all",
  });
  const current = { pc, queue: Promise.resolve(), ignoring: false };
  peer = current;
  const remote = new MediaStream();
  ui.remoteVideo.srcObject = remote;
  pc.addEventListener("track", (event) => {
    remote.addTrack(event.track);
    ui.remoteVideo.play?.().catch(() => {});
  });
  pc.addEventListener("icecandidate", ({ candidate }) => {
    if (peer !== current) return;
    send({
      type: "signal",
      kind: "candidate",
      candidate: candidate?.candidate ?? "",
      sdp_mid: candidate?.sdpMid ?? null,
      sdp_mline_index: candidate?.sdpMLineIndex ?? null,
    });
  });
  pc.addEventListener("negotiationneeded", () =>
    enqueue(async () => {
      if (pc.signalingState !== "stable") return;
      await pc.setLocalDescription(await pc.createOffer());
      send({ type: "signal", kind: "offer", sdp: pc.localDescription.sdp });
    }),
  );
  for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
  watchIce(current);
}

// A connection that has not come up in ICE_RESTART_MS (a TURN allocation lost on a busy
// relay, candidates lost in a renegotiation), or that failed, gets a fresh ICE round
// (RFC 8445 §2.4 restart; perfect negotiation carries the new offer), a few times.
const ICE_RESTART_MS = 8000;
const ICE_RESTARTS = 2;

function watchIce(current) {
  const { pc } = current;
  let restarts = 0;
  let timer = null;
  const restart = () => {
    clearTimeout(timer);
    if (peer !== current || restarts >= ICE_RESTARTS) return;
    if (["connected", "completed", "closed"].includes(pc.iceConnectionState)) return;
    restarts += 1;
    mark("ice_restart", { state: pc.iceConnectionState });
    pc.restartIce();
    timer = setTimeout(restart, ICE_RESTART_MS);
  };
  timer = setTimeout(restart, ICE_RESTART_MS);
  pc.addEventListener("icecandidateerror", (event) => {
    // The TURN server refused or did not answer: kept in the timeline for diagnosis.
    if (peer === current) mark("ice_error", { code: event.errorCode, text: event.errorText });
  });
  pc.addEventListener("iceconnectionstatechange", () => {
    if (pc.iceConnectionState === "failed") restart();
    else if (pc.iceConnectionState === "closed") clearTimeout(timer);
  });
}

async function onSignal(message) {
  const { pc } = peer;
  if (message.kind === "candidate") {
    if (typeof message.candidate !== "string") return;
    try {
      await pc.addIceCandidate({
        candidate: message.candidate,
        sdpMid: message.sdp_mid ?? null,
        sdpMLineIndex: message.sdp_mline_index ?? null,
      });
    } catch (error) {
      if (!peer.ignoring) throw error;
    }
    return;
  }
  if (typeof message.sdp !== "string") return;
  const description = { type: message.kind, sdp: message.sdp };
  if (message.kind === "offer") {
    const glare = pc.signalingState !== "stable";
    const polite = glare && ufrag(pc.localDescription) < ufrag(description);
    peer.ignoring = glare && !polite;
    if (peer.ignoring) return;
    if (glare) await pc.setLocalDescription({ type: "rollback" });
    await pc.setRemoteDescription(description);
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: "signal", kind: "answer", sdp: pc.localDescription.sdp });
  } else if (message.kind === "answer" && pc.signalingState === "have-local-offer") {
    await pc.setRemoteDescription(description);
  }
}

function closePeer() {
  if (!peer) return;
  peer.pc.close();
  peer = null;
  ui.remoteVideo.srcObject = null;
}

// --- frame checks -------------------------------------------------------------------
// docs/design.md §6: the viewer's page samples the stranger's incoming video (so a sender
// cannot opt out) and its own camera, at match start (the first decoded frame), every
// 2 s for the first 10 s of the match, then every 5 s, as 320-px-wide JPEGs posted to
// /v1/frames with this side's frame token. The verdicts come back over the socket as
// `blur` and `notice`. The CSS blur does not reach drawImage, so samples see real pixels.

const FRAME_WIDTH = 320;
const FRAME_MAX_BYTES = 65536;
const FRAME_QUALITIES = [0.7, 0.5, 0.35, 0.2];
const FRAME_EARLY_MS = 10000;
const FRAME_EARLY_EVERY_MS = 2000;
const FRAME_EVERY_MS = 5000;
const BLUR_REASONS = ["nudity", "face_not_visible", "known_abuse", "not_checked"];
const NO_FACE_SIDES = ["own", "partner"]; // whose face `ended` with `no_face` says was missing
// Fail closed (issue 15, attack 2; docs/safety.md, "Sampling"): the stranger's video
// stays visible only while checks of it keep coming back. Without an answered check for
// FRAME_FRESH_MS (shed under load, refused, timed out, the network), it is blurred again
// as "checking" until one comes back. A check that failed is retried after
// FRAME_RETRY_MS, not at the next slot of the schedule, so one shed frame costs a
// second, not a blur. A post unanswered after FRAME_POST_TIMEOUT_MS is given up.
const FRAME_FRESH_MS = 8000;
const FRAME_RETRY_MS = 1000;
const FRAME_POST_TIMEOUT_MS = 6000;
// Between an answered check and lifting a "checking" blur: a flag's `blur` goes out on
// the socket before the post is answered, and this lets it arrive first.
const FRAME_LIFT_GRACE_MS = 300;
const FLAGGED = ["nudity", "known_abuse"];
const TIMELINE_MAX = 1000;

let blur = { on: true, reason: "checking" };
let serverBlur = { on: true, reason: "checking" }; // what the server's verdicts say
let checkedAt = -Infinity; // when a check of the stranger's video last came back
let frames = null; // { match, token, start, stopped, timers, partner, own }
let endingReason = null; // why the current match is ending, for the timeline
let lastMatch = null; // the latest video match, current or just ended
let posting = 0;
const timeline = [];

function mark(event, extra = {}) {
  timeline.push({ at: performance.now(), event, match: matchId, ...extra });
  if (timeline.length > TIMELINE_MAX) timeline.splice(0, timeline.length - TIMELINE_MAX);
}

function setBlur(on, reason, always = false) {
  const changed = always || blur.on !== on || blur.reason !== reason;
  blur = { on, reason };
  ui.remoteVideo.dataset.blur = on ? "on" : "off";
  ui.remoteVideo.dataset.blurReason = reason;
  if (on && (phase === "chatting" || FLAGGED.includes(reason))) localise(ui.remoteOverlay, `blur.${reason}`);
  else clearLine(ui.remoteOverlay);
  if (changed) mark(on ? "blur_on" : "blur_off", { reason });
}

function clearLine(el) {
  delete el.dataset.i18n;
  delete el.dataset.i18nArgs;
  el.textContent = "";
}

function showFaceNotice(active) {
  ui.local.dataset.notice = active ? "show_face" : "";
  if (active) localise(ui.faceNotice, "notice.show_face");
  else clearLine(ui.faceNotice);
}

function startFrames(match, token) {
  stopFrames();
  if (typeof token !== "string" || !token) return; // a server without frame checks
  const run = { match, token, start: performance.now(), stopped: false, timers: new Set() };
  for (const source of ["partner", "own"]) {
    const canvas = document.createElement("canvas");
    run[source] = { canvas, busy: false, resumeAt: 0 };
  }
  frames = run;
  later(run, 500, function watch() {
    staleCheck(run);
    later(run, 500, watch);
  });
  whenDecoded(run, ui.remoteVideo, () => {
    mark("partner_frame", { match }); // the stranger's first decoded frame
    sampleLoop(run, "partner");
  });
  whenDecoded(run, ui.localVideo, () => sampleLoop(run, "own"));
}

function stopFrames() {
  const run = frames;
  if (!run) return;
  frames = null;
  run.stopped = true;
  for (const timer of run.timers) clearTimeout(timer);
  run.timers.clear();
  showFaceNotice(false);
  mark("ended", { match: run.match, reason: endingReason ?? phase });
}

const live = (run) => frames === run && !run.stopped && matchId === run.match && phase === "chatting";

function later(run, ms, step) {
  const timer = setTimeout(() => {
    run.timers.delete(timer);
    if (live(run)) step();
  }, ms);
  run.timers.add(timer);
}

function hasFrame(video) {
  return video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && video.videoWidth > 0;
}

// Calls `then` once `video` has a decoded frame to draw: the first frame presented
// (requestVideoFrameCallback), or `loadeddata`, whichever comes first.
function whenDecoded(run, video, then) {
  let done = false;
  const finish = () => {
    done = true;
    video.removeEventListener("loadeddata", go);
    video.removeEventListener("playing", go);
  };
  const go = () => {
    if (done) return;
    if (!live(run)) finish(); // the match ended before its first frame
    else if (hasFrame(video)) {
      finish();
      then();
    }
  };
  if (hasFrame(video)) {
    go(); // the own camera is already playing
    return;
  }
  video.addEventListener("loadeddata", go);
  video.addEventListener("playing", go);
  if (video.requestVideoFrameCallback) {
    const watch = () => {
      if (done || !live(run)) return;
      if (hasFrame(video)) go();
      else video.requestVideoFrameCallback(watch);
    };
    video.requestVideoFrameCallback(watch);
  }
  later(run, 250, function poll() {
    go();
    if (!done) later(run, 250, poll);
  });
}

const checkFresh = () => performance.now() - checkedAt < FRAME_FRESH_MS;

// The stranger's video, unblurred by the server, is blurred again once its checks stop
// coming back, and lifted again when one does (while the server's verdict still allows).
function staleCheck(run) {
  if (!live(run) || serverBlur.on) return;
  if (!blur.on && !checkFresh()) setBlur(true, "checking");
  else if (blur.on && blur.reason === "checking" && checkFresh()) setBlur(false, "clear");
}

function sampleLoop(run, source) {
  const elapsed = performance.now() - run.start;
  later(run, elapsed < FRAME_EARLY_MS ? FRAME_EARLY_EVERY_MS : FRAME_EVERY_MS, () => sampleLoop(run, source));
  sample(run, source);
}

function cameraOn() {
  return Boolean(localStream) && ui.camera.getAttribute("aria-pressed") === "true";
}

async function sample(run, source) {
  const state = run[source];
  if (state.busy || performance.now() < state.resumeAt) return;
  const video = source === "partner" ? ui.remoteVideo : ui.localVideo;
  if (source === "own" && !cameraOn()) return;
  if (!hasFrame(video)) return;
  state.busy = true;
  try {
    const jpeg = await encodeFrame(video, state.canvas);
    if (!jpeg || !live(run)) return;
    await postFrame(run, source, jpeg);
  } catch (error) {
    console.warn("strangers: frame check", error);
  } finally {
    state.busy = false;
  }
}

async function encodeFrame(video, canvas) {
  const height = Math.max(1, Math.round((FRAME_WIDTH * video.videoHeight) / video.videoWidth));
  canvas.width = FRAME_WIDTH;
  canvas.height = height;
  canvas.getContext("2d").drawImage(video, 0, 0, FRAME_WIDTH, height);
  for (const quality of FRAME_QUALITIES) {
    const jpeg = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
    if (jpeg && jpeg.size <= FRAME_MAX_BYTES) return jpeg;
  }
  return null;
}

async function postFrame(run, source, jpeg) {
  const sent = performance.now();
  let response;
  let body = null;
  posting += 1;
  try {
    response = await fetch(`/v1/frames?source=${source}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { Authorization: `Bearer ${run.token}`, "Content-Type": "image/jpeg" },
      body: jpeg,
      signal: AbortSignal.timeout(FRAME_POST_TIMEOUT_MS),
    });
    if (!response.ok) body = await response.json().catch(() => ({}));
  } catch {
    mark("frame_posted", { match: run.match, source, status: 0, sent });
    later(run, FRAME_RETRY_MS, () => sample(run, source)); // network trouble: try again soon
    return;
  } finally {
    posting -= 1;
  }
  mark("frame_posted", { match: run.match, source, status: response.status, sent, code: body?.code });
  if (response.ok && source === "partner" && live(run)) {
    checkedAt = performance.now();
    later(run, FRAME_LIFT_GRACE_MS, () => staleCheck(run));
  }
  if (response.status === 410 || response.status === 401) {
    // The match is over for the server (or the token is void): stop sampling it.
    if (frames === run) {
      for (const timer of run.timers) clearTimeout(timer);
      run.timers.clear();
      run.stopped = true;
    }
  } else if (response.status === 429) {
    const wait = Number(body?.retry_after);
    run[source].resumeAt = performance.now() + (Number.isFinite(wait) && wait > 0 ? wait * 1000 : FRAME_EVERY_MS);
  }
  else if (response.status >= 500) {
    // Shed under load (503 busy) or a fault: try again soon; the stale check blurs
    // the video meanwhile if no check comes back.
    const wait = Number(body?.retry_after);
    later(run, Number.isFinite(wait) && wait > 0 ? wait * 1000 : FRAME_RETRY_MS, () => sample(run, source));
  }
  // 413, 415, 422: refused; the schedule goes on (the stale check blurs the video if
  // the stranger's frames keep being refused).
}

// --- composer -----------------------------------------------------------------------

function stopTyping() {
  clearTimeout(typingTimer);
  if (typingActive && phase === "chatting") send({ type: "typing", active: false });
  typingActive = false;
}

function updateCounter() {
  const left = ui.message.maxLength - ui.message.value.length;
  const near = ui.message.value.length >= ui.message.maxLength * COUNTER_FROM;
  ui.counter.hidden = !near;
  if (near) localise(ui.counter, "chat.counter", { count: left });
}

function sendMessage() {
  const text = ui.message.value;
  if (phase !== "chatting" || !text.trim()) return;
  const wait = takeToken();
  if (wait) {
    status("error.rate_limited", { seconds: Math.ceil(wait) }, "status problem");
    return; // the text stays in the box, to send in a moment
  }
  send({ type: "message", text });
  chatLine("you", text);
  ui.message.value = "";
  updateCounter();
  stopTyping();
}

ui.message.addEventListener("input", () => {
  updateCounter();
  clearTimeout(typingTimer);
  if (!ui.message.value) {
    stopTyping();
    return;
  }
  if (!typingActive) {
    typingActive = true;
    send({ type: "typing", active: true });
  }
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
});

ui.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendMessage();
  }
});

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  sendMessage();
});

ui.skip.addEventListener("click", (event) => onSkip(event.pointerType === "touch"));

document.addEventListener("keydown", (event) => {
  // Esc in a dialog closes the dialog only (its own cancel), never the chat.
  const dialogOpen = ui.reportDialog.open || ui.cameraDialog.open;
  if (event.key === "Escape" && !event.repeat && !ui.chat.hidden && !dialogOpen) {
    event.preventDefault();
    onSkip();
  }
});

// A horizontal swipe across the video (or the chat laid over it) is Next, as in
// phone-first video chat apps. Only a clear one: at least SWIPE_MIN_PX across, more
// than twice as far across as up or down (a scroll of the log is not a skip), and
// quick; never from a control.
const SWIPE_MIN_PX = 80;
const SWIPE_MAX_MS = 800;
let swipe = null;

ui.chat.addEventListener(
  "touchstart",
  (event) => {
    swipe = null;
    if (mode !== "video" || event.touches.length !== 1) return;
    if (!event.target.closest(".videos, .log") || event.target.closest("button, a, input, textarea")) return;
    const [touch] = event.touches;
    swipe = { x: touch.clientX, y: touch.clientY, at: event.timeStamp };
  },
  { passive: true },
);

ui.chat.addEventListener(
  "touchend",
  (event) => {
    const start = swipe;
    swipe = null;
    if (!start || event.changedTouches.length !== 1) return;
    const [touch] = event.changedTouches;
    const across = Math.abs(touch.clientX - start.x);
    const down = Math.abs(touch.clientY - start.y);
    if (across >= SWIPE_MIN_PX && across > 2 * down && event.timeStamp - start.at <= SWIPE_MAX_MS) onSkip(true);
  },
  { passive: true },
);

ui.chat.addEventListener("touchcancel", () => (swipe = null), { passive: true });

// --- report -------------------------------------------------------------------------
// Always one click from the chat (docs/design.md §1). A modal <dialog>: the rest of the page is
// inert, Tab wraps inside it, Esc cancels it, and focus goes back to where it was.

const reasonInputs = () => [...ui.reportForm.elements.reason];
const visibleReasons = () => reasonInputs().filter((input) => !input.disabled);

function reportProblem(key) {
  ui.reportProblem.hidden = !key;
  if (key) localise(ui.reportProblem, key);
}

function noteRequired() {
  return ui.reportForm.elements.reason.value === "other";
}

function renderNote() {
  localise(ui.reportNoteLabel, noteRequired() ? "report.note_required" : "report.note");
  ui.reportNote.required = noteRequired();
}

// Strangers who left stay reportable for a while: the server keeps, per session, its
// last 3 matches of the last 10 minutes (docs/safety.md, "Evidence"); this list mirrors
// it, a little shorter so the page never offers what the server has just forgotten.
const RECENT_MAX = 3;
const RECENT_MS = 10 * 60 * 1000 - 5000;
let recentStrangers = []; // { match, endedAt }, oldest first; reported ones too, as the server counts them
const reportedMatches = new Set();
let reportTarget = null; // the match the open dialog reports
let reportOpener = null; // where focus goes back when the dialog closes

function rememberStranger(match) {
  if (!match || recentStrangers.some((kept) => kept.match === match)) return;
  recentStrangers.push({ match, endedAt: Date.now() });
}

function forgetStrangers() {
  recentStrangers = [];
  reportedMatches.clear();
  if (ui.reportDialog.open && reportTarget !== matchId) ui.reportDialog.close();
}

// The recent strangers that can still be reported, newest first.
function reportableStrangers() {
  const since = Date.now() - RECENT_MS;
  recentStrangers = recentStrangers.filter((kept) => kept.endedAt >= since).slice(-RECENT_MAX);
  return recentStrangers.filter((kept) => !reportedMatches.has(kept.match)).reverse();
}

function lastStranger() {
  return reportableStrangers()[0] ?? null;
}

function renderRecent() {
  const strangers = reportableStrangers();
  const items = strangers.map((kept) => {
    const minutes = Math.floor((Date.now() - kept.endedAt) / 60000);
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("aria-haspopup", "dialog");
    button.dataset.match = kept.match;
    button.dataset.i18nLabel = minutes < 1 ? "recent.report_now" : "recent.report_ago";
    localise(button, minutes < 1 ? "recent.now" : "recent.ago", { minutes });
    button.addEventListener("click", () => openReport(kept.match));
    const item = document.createElement("li");
    item.append(button);
    return item;
  });
  const focused = document.activeElement?.dataset?.match;
  ui.recentList.replaceChildren(...items);
  if (focused) ui.recentList.querySelector(`[data-match="${CSS.escape(focused)}"]`)?.focus();
  ui.recentStrangers.hidden = items.length === 0;
  if (phase !== "chatting") ui.report.disabled = strangers.length === 0;
  // A dialog opened while chatting stays open if the stranger leaves: say so.
  if (ui.reportDialog.open) localise(ui.reportLead, reportTarget === matchId ? "report.lead" : "report.lead_recent");
}

setInterval(renderRecent, 30000); // "n min ago", and the window closing

function openReport(target = phase === "chatting" ? matchId : lastStranger()?.match) {
  if (!target || ui.reportDialog.open) return;
  reportTarget = target;
  reportOpener = document.activeElement;
  localise(ui.reportLead, target === matchId ? "report.lead" : "report.lead_recent");
  confirming = false;
  renderSkip();
  ui.reportForm.reset();
  for (const input of reasonInputs()) {
    const off = (input.value === "underage" && band !== "adult") || (input.value === "adult" && band !== "teen");
    input.disabled = off;
    input.closest("label").hidden = off;
  }
  reportProblem(null);
  renderNote();
  ui.reportDialog.showModal();
  visibleReasons()[0].focus();
}

ui.report.addEventListener("click", () => openReport());
ui.reportCancel.addEventListener("click", () => ui.reportDialog.close());
ui.reportForm.addEventListener("change", renderNote);

ui.reportDialog.addEventListener("close", () => {
  const back = reportOpener?.isConnected && !reportOpener.disabled ? reportOpener : null;
  (back ?? (ui.report.disabled ? ui.skip : ui.report)).focus();
});

ui.reportDialog.addEventListener("keydown", (event) => {
  if (event.key !== "Tab") return;
  const first = reasonInputs().find((input) => input.checked) ?? visibleReasons()[0];
  const last = ui.reportCancel;
  if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  } else if (event.shiftKey && document.activeElement?.name === "reason") {
    event.preventDefault();
    last.focus();
  }
});

ui.reportForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const reason = ui.reportForm.elements.reason.value;
  const note = ui.reportNote.value.trim();
  if (!reason) {
    reportProblem("report.missing_reason");
    visibleReasons()[0].focus();
    return;
  }
  if (noteRequired() && !note) {
    reportProblem("report.missing_note");
    ui.reportNote.focus();
    return;
  }
  // The current stranger, or one who has left since (maybe while this dialog was open):
  // the match id says which, so a report is never refused for the stranger leaving.
  const target = reportTarget;
  const current = phase === "chatting" && target === matchId;
  if (!target || (current && pending)) return;
  if (current) pending = true; // its `ended` follows
  reportAwaiting += 1;
  reportedMatches.add(target);
  send({ type: "report", reason, note, match: target });
  ui.reportDialog.close();
  renderRecent();
});

ui.auto.addEventListener("change", () => store.set(STORE.auto, ui.auto.checked ? "1" : "0"));

// --- page states from the server (issue 19) -------------------------------------------
// The online count, the honest waiting lines, the age confirmation, the end of a refusal,
// the ban screen at arrival with the appeal's state, reconnection with backoff, and the
// Terms and Privacy screen. Protocol and endpoints: docs/protocol.md.

const stateUi = {
  online: $("online"),
  waitState: $("wait-state"),
  waitLine: $("wait-line"),
  waitOnline: $("wait-online"),
  ageConfirm: $("age-confirm"),
  ageConfirmText: $("age-confirm-text"),
  ageYes: $("age-yes"),
  refusedUntil: $("refused-until"),
  bannedScope: $("banned-scope"),
  bannedReasonLine: $("banned-reason-line"),
  bannedNote: $("banned-note"),
  bannedNoteText: $("banned-note-text"),
  appealState: $("appeal-state"),
  appealStateText: $("appeal-state-text"),
  appealStatement: $("appeal-statement"),
  reconnect: $("reconnect"),
  reconnectText: $("reconnect-text"),
  reconnectNow: $("reconnect-now"),
  legal: $("legal"),
  legalText: $("legal-text"),
  legalProblem: $("legal-problem"),
  legalBack: $("legal-back"),
};

// The online count (GET /v1/online): per mode, rounded down, every age band together, the
// same for every asker. Asked while the start screen or a wait is on screen.
const ONLINE_EVERY_MS = 15000;
let online = null; // { text: {at_least} | {below}, video: ... }
let onlineTimer = 0;

function onlineText(count) {
  if (typeof count?.at_least === "number") return t("online.count", { count: count.at_least });
  return t("online.few");
}

function renderOnline() {
  const shown = online != null && !ui.start.hidden;
  stateUi.online.hidden = !shown;
  if (shown) {
    const counts = { text: onlineText(online.text), video: onlineText(online.video) };
    localise(stateUi.online, "online.start", counts);
  }
  if (online != null && phase === "waiting" && (mode === "text" || mode === "video")) {
    localise(stateUi.waitOnline, `online.mode_${mode}`, { count: onlineText(online[mode]) });
  } else {
    delete stateUi.waitOnline.dataset.i18n;
    stateUi.waitOnline.textContent = "";
  }
}

async function fetchOnline() {
  try {
    const response = await fetch("/v1/online", { credentials: "same-origin" });
    if (response.ok) online = await response.json();
  } catch {
    // offline or refused: the last count stays, or none is shown
  }
  renderOnline();
}

function watchOnline() {
  clearTimeout(onlineTimer);
  const wanted = !ui.start.hidden || phase === "waiting";
  if (wanted) fetchOnline();
  onlineTimer = setTimeout(watchOnline, ONLINE_EVERY_MS);
}

// Why a wait goes on (the server's `queue`, after a few seconds of waiting): nobody else
// is looking, or only strangers met within the no-re-pair window, or others who may yet
// fit. Shown under the conversation, replaced in place, gone once the wait ends.
const WAIT_STATES = ["nobody", "met_recently", "others"];
let waitNote = null; // { state, minutes }

function renderWaitState() {
  const waiting = phase === "waiting";
  if (!waiting) waitNote = null;
  stateUi.waitState.hidden = !waiting;
  if (waitNote) {
    localise(stateUi.waitLine, `wait.${waitNote.state}`, { minutes: { minutes: waitNote.minutes } });
    stateUi.waitLine.hidden = false;
  } else {
    stateUi.waitLine.hidden = true;
    stateUi.waitLine.textContent = "";
  }
  if (waiting && online == null) fetchOnline();
  renderOnline();
  stateUi.reconnect.hidden = !(phase === "closed" || (phase === "connecting" && reconnect.active));
}

handlers.queue = (message) => {
  if (phase !== "waiting" || !WAIT_STATES.includes(message.state)) return;
  waitNote = { state: message.state, minutes: Number(message.repair_minutes) || 30 };
  renderWaitState();
};

// The age answer counts only once confirmed ("You said March 2016 — is that right?"): a
// slip is caught before the server locks it. The server's rules hold whatever the page
// does (docs/safety.md, "Age"); this only spares an honest chatter a mistake.
// The year list starts some years before the current one, not at 13: a neutral age
// screen lets a child give a true answer (FTC COPPA FAQ H.3), and no one of 6 chats here.
const YOUNGEST_LISTED = 6;
const OLDEST_LISTED = 100;
let confirmedBirth = null; // "year-month" confirmed on this page

function confirmBirth(year, month) {
  const key = `${year}-${month}`;
  if (confirmedBirth === key) return Promise.resolve(true);
  const monthName = new Intl.DateTimeFormat(language, { month: "long" }).format(new Date(2000, month - 1, 1));
  localise(stateUi.ageConfirmText, "age_confirm.text", { month: monthName, year: String(year) });
  const dialog = stateUi.ageConfirm;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const yes = dialog.returnValue === "yes";
        if (yes) confirmedBirth = key;
        else ui.month.focus();
        resolve(yes);
      },
      { once: true },
    );
    dialog.showModal();
    stateUi.ageYes.focus();
  });
}

// A changed answer must be confirmed again.
for (const select of [ui.month, ui.year]) {
  select.addEventListener("change", () => {
    confirmedBirth = null;
  });
}

// A refusal says until when, in the chatter's language and time zone.
function renderRefusalUntil(reason, until) {
  const shown = typeof until === "number" && reason !== "age_check";
  stateUi.refusedUntil.hidden = !shown;
  if (shown) localise(stateUi.refusedUntil, "refused.until", { time: { time: until } });
}

// The ban screen: the moderator's own words when there are some (text, never HTML), a
// network's ban told as such (its reason and case are another device's), and the state of
// this device's appeal (GET /v1/standing), so a sent appeal never comes back as an empty form.
const APPEAL_DRAFT = "strangers.appeal-draft";
const APPEAL_STATES = ["pending", "upheld", "overturned"];

function renderBanExtras(message) {
  const note = typeof message.note === "string" ? message.note.trim() : "";
  stateUi.bannedNote.hidden = !note;
  stateUi.bannedNoteText.textContent = note;
  const network = message.scope === "network";
  stateUi.bannedScope.hidden = !network;
  stateUi.bannedReasonLine.hidden = network;
  stateUi.appealState.hidden = true;
  if (network) ui.appeal.hidden = true;
  let draft = null;
  try {
    draft = JSON.parse(store.get(APPEAL_DRAFT));
  } catch {
    draft = null;
  }
  if (draft?.case && draft.case === ui.appealForm.dataset.case && !ui.appealText.value) {
    ui.appealText.value = String(draft.text ?? "");
  }
  if (message.appeal) renderAppealState(message.appeal);
}

function renderAppealState(appeal) {
  if (!APPEAL_STATES.includes(appeal?.state)) {
    stateUi.appealState.hidden = true;
    return;
  }
  const at = appeal.state === "pending" ? appeal.submitted_at : (appeal.decided_at ?? appeal.submitted_at);
  localise(stateUi.appealStateText, `appeal.state.${appeal.state}`, { time: { time: Number(at) || Date.now() / 1000 } });
  const statement = typeof appeal.statement === "string" ? appeal.statement : "";
  stateUi.appealStatement.hidden = !statement;
  stateUi.appealStatement.textContent = statement;
  stateUi.appealState.hidden = false;
  ui.appeal.hidden = true; // the form's section: nothing more to send
}

function appealSent() {
  store.remove(APPEAL_DRAFT);
  ui.appealText.value = "";
  renderAppealState({ state: "pending", submitted_at: Date.now() / 1000 });
  stateUi.appealState.focus();
}

ui.appealText.addEventListener("input", () => {
  const text = ui.appealText.value;
  if (text) store.set(APPEAL_DRAFT, JSON.stringify({ case: ui.appealForm.dataset.case, text }));
  else store.remove(APPEAL_DRAFT);
});

function showStanding(standing) {
  const notice = { ...standing.notice, scope: standing.scope, appeal: standing.appeal };
  if (standing.scope === "network") notice.reason = t("banned.reason_network");
  showBanned(notice);
}

// On arrival, before any question: is this device banned? Only a device that was given a
// token asks, with that token (never an id of its own choosing).
async function checkStanding() {
  const token = store.get(STORE.device);
  if (!token) return false;
  try {
    const response = await fetch("/v1/standing", {
      credentials: "same-origin",
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) return false;
    const standing = await response.json();
    if (standing?.banned !== true || typeof standing.notice !== "object") return false;
    showStanding(standing);
    return true;
  } catch {
    return false; // the socket's hello still meets the ban, if there is one
  }
}

// A `banned` message mid-visit: the appeal's state comes from the standing.
const showBannedFromSocket = handlers.banned;
handlers.banned = (message) => {
  showBannedFromSocket(message);
  checkStanding();
};

// Reconnection: a lost connection is tried again by itself, after 1 s, 2 s, 4 s … up to 30 s,
// each delay with ±20 % jitter so a server's whole audience does not come back in one
// second; "Retry now" tries at once. Where the chatter was is where they go back: looking
// again if they were looking. A chat cannot survive it, and the log says so.
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const RECONNECT_JITTER = 0.2;
const reconnect = { active: false, attempt: 0, timer: 0, countdown: 0, due: 0, look: false };
const reconnectLog = []; // test hook: { at, delay } per scheduled attempt
let lookOnWelcome = true; // whether the session looks for a stranger once open

window.strangersReconnect = { attempts: () => reconnectLog.map((entry) => ({ ...entry })) };

function reconnectDelay(attempt) {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** attempt);
  return Math.round(base * (1 - RECONNECT_JITTER + 2 * RECONNECT_JITTER * Math.random()));
}

function stopReconnectTimers() {
  clearTimeout(reconnect.timer);
  clearInterval(reconnect.countdown);
}

function connectionLost() {
  const was = phase;
  matchId = null;
  if (!reconnect.active) {
    reconnect.active = true;
    reconnect.attempt = 0;
    reconnect.look = was === "waiting" || (was === "connecting" && lookOnWelcome);
    if (was === "chatting") status("status.chat_lost", undefined, "status problem");
    else status("status.lost", undefined, "status problem");
  }
  setPhase("closed");
  scheduleReconnect();
}

function scheduleReconnect() {
  stopReconnectTimers();
  const delay = reconnectDelay(reconnect.attempt);
  reconnect.attempt += 1;
  stateUi.reconnect.dataset.attempt = String(reconnect.attempt); // mirrored for tests
  reconnect.due = performance.now() + delay;
  reconnectLog.push({ at: performance.now(), delay });
  const render = () => {
    const seconds = Math.max(1, Math.ceil((reconnect.due - performance.now()) / 1000));
    localise(stateUi.reconnectText, "reconnect.in", { seconds });
  };
  render();
  reconnect.countdown = setInterval(render, 250);
  reconnect.timer = setTimeout(attemptReconnect, delay);
  stateUi.reconnect.hidden = false;
}

function attemptReconnect() {
  if (phase !== "closed" || socket) return;
  localise(stateUi.reconnectText, "reconnect.trying");
  lookOnWelcome = reconnect.look;
  connect(true);
}

function retryNow() {
  if (phase !== "closed") return;
  if (!reconnect.active) {
    search(); // a connection given up on purpose: "Reconnect" is a new search
    return;
  }
  attemptReconnect();
}

stateUi.reconnectNow.addEventListener("click", retryNow);

// Called at `welcome`: true when this was a reconnection that does not look again (the
// chat it had was lost), so the page stays idle with "New".
function reconnected() {
  if (!reconnect.active) return false;
  reconnect.active = false;
  stopReconnectTimers();
  status("status.reconnected");
  if (lookOnWelcome) {
    renderWaitState();
    return false;
  }
  setPhase("ended");
  return true;
}

// Terms of use and Privacy: /terms and /privacy open the page at their screen; the text
// is the operator's or the default (GET /v1/legal/<doc>), shown as text, never as HTML.
const LEGAL_DOCS = ["terms", "privacy"];
let legalShown = null;

function legalRoute() {
  const name = location.pathname.replace(/^\/+|\/+$/g, "");
  return LEGAL_DOCS.includes(name) ? name : null;
}

function legalBlocks(text) {
  const blocks = [];
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) {
      const p = document.createElement("p");
      p.textContent = paragraph.join(" ");
      blocks.push(p);
    }
    paragraph = [];
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const heading = /^(#{1,3})\s+(.*)$/.exec(line);
    const item = /^[-*]\s+(.*)$/.exec(line);
    if (!item) list = null;
    if (!line) {
      flush();
    } else if (heading) {
      flush();
      const h = document.createElement(`h${Math.min(3, heading[1].length)}`);
      h.textContent = heading[2];
      blocks.push(h);
    } else if (item) {
      flush();
      if (!list) {
        list = document.createElement("ul");
        blocks.push(list);
      }
      const li = document.createElement("li");
      li.textContent = item[1];
      list.append(li);
    } else {
      paragraph.push(line);
    }
  }
  flush();
  return blocks;
}

async function showLegal(name) {
  legalShown = name;
  show(stateUi.legal);
  stateUi.legalProblem.hidden = true;
  stateUi.legalText.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(`/v1/legal/${name}?lang=${language}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const body = await response.json();
    if (legalShown !== name) return;
    stateUi.legalText.replaceChildren(...legalBlocks(String(body.text ?? "")));
    stateUi.legalText.lang = String(body.language ?? language);
  } catch {
    stateUi.legalText.replaceChildren();
    stateUi.legalProblem.hidden = false;
  } finally {
    stateUi.legalText.removeAttribute("aria-busy");
  }
  stateUi.legalText.focus();
}

function leaveLegal() {
  legalShown = null;
  const refused = storedRefusal();
  if (refused) showRefused(refused.reason, refused.until);
  else show(ui.start);
  watchOnline();
}

// In place while nothing would be lost; during a chat or a wait, in a new tab.
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[data-legal]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey) return;
  if (socket || !ui.banned.hidden) {
    link.target = "_blank";
    link.rel = "noopener";
    return;
  }
  event.preventDefault();
  history.pushState({ legal: link.dataset.legal }, "", `/${link.dataset.legal}`);
  showLegal(link.dataset.legal);
});

stateUi.legalBack.addEventListener("click", (event) => {
  event.preventDefault();
  if (history.state?.legal) history.back();
  else {
    history.replaceState(null, "", "/");
    leaveLegal();
  }
});

window.addEventListener("popstate", () => {
  const name = legalRoute();
  if (name) showLegal(name);
  else if (legalShown) leaveLegal();
});

// Once a new language's catalogue is in (setLanguage sets <html lang> last): the counts'
// words, and the document in that language.
new MutationObserver(() => {
  renderOnline();
  if (legalShown) showLegal(legalShown);
}).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });

// --- start --------------------------------------------------------------------------

fillBirthSelects();
ui.auto.checked = store.get(STORE.auto) === "1";
await setLanguage(preferredLanguage());
recall();
renderInterests();
renderTouch();
renderRemoteState();
updateCounter();
const refusal = storedRefusal();
if (legalRoute()) showLegal(legalRoute());
else if (await checkStanding()) {
  // banned: the ban screen is up, before any question
} else if (refusal) showRefused(refusal.reason, refusal.until);
else show(ui.start);
ui.app.hidden = false;
watchOnline();
