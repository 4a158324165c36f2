// StreamingChat in the browser: the node's HTTP API, long-polled. No build step, nothing
// loaded from outside. Every text from other members goes through textContent, never HTML.
// The page holds no secret: the one-time address `streamingchat ui` prints set an HttpOnly
// session cookie, which every request here carries.
const fragment = new URLSearchParams(location.hash.slice(1));
const wanted = fragment.get("conversation");
history.replaceState(null, "", location.pathname + location.search);

const $ = (id) => document.getElementById(id);
// Anything unexpected is said in the notice line rather than lost in the console.
addEventListener("error", (event) => notice("error: " + event.message));
addEventListener("unhandledrejection", (event) => notice("error: " + (event.reason?.message ?? event.reason)));

const WINDOW = 200;       // messages rendered at first, and added per "show earlier"
const AWAY_AFTER = 5 * 60 * 1000;
const CURSOR_IDLE = 30 * 1000;
let current = null;       // conversation id
let revision = null;      // the last chat-state revision seen
let state = null;
let poll = 0;             // a new poll supersedes the old one
let shown = WINDOW;       // how many of the newest messages are rendered
let earlier = null;       // the whole log, fetched once the reader asks for older messages
let lastActivity = Date.now();
let chosenStatus = "online";
let customStatus = "";
let autoAway = false;

// The session cookie is missing or no longer matches the node's key.
class LoggedOut extends Error {}

async function api(method, path, body) {
  const response = await fetch("/api/" + path, {
    method, headers: { "Content-Type": "application/json" }, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const value = await response.json();
  if (response.status === 401) throw new LoggedOut(value.error?.message);
  if (!response.ok) throw Object.assign(new Error(value.error?.message ?? response.statusText), { code: value.error?.code });
  return value;
}

const command = (name, args) => api("POST", "command", { command: name, arguments: args });

function notice(text) {
  $("notice").hidden = !text;
  $("notice").textContent = text ?? "";
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function ago(ms) {
  const seconds = Math.max(0, (Date.now() - ms) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
  if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
  return Math.floor(seconds / 86400) + " days ago";
}

// A member's avatar: their identicon (an SVG the node draws from their key), else an initial.
const identicons = new Map(); // key → data URL, made once per member
function avatar(key, name) {
  if (!identicons.has(key)) {
    const member = state?.members.find((m) => m.key === key);
    if (member?.identicon) identicons.set(key, "data:image/svg+xml," + encodeURIComponent(member.identicon));
  }
  if (identicons.has(key)) {
    const image = element("img", "avatar");
    image.src = identicons.get(key);
    image.alt = "";
    return image;
  }
  const initial = element("span", "avatar", (name?.[0] ?? "?").toUpperCase());
  initial.style.background = state?.colors[key] ?? "#888";
  return initial;
}

async function loadConversations() {
  const { conversations } = await api("GET", "conversations");
  const list = $("conversation-list");
  list.replaceChildren(...conversations.map((conversation) => {
    const item = element("li", conversation.id === current ? "current" : "", conversation.title || conversation.id.slice(0, 12));
    item.dataset.id = conversation.id;
    item.title = conversation.messages + " messages, " + conversation.members + " members";
    item.onclick = () => open(conversation.id);
    return item;
  }));
  if (!current && conversations.length > 0) open(conversations[0].id);
}

function open(id) {
  current = id;
  revision = null;
  state = null;
  shown = WINDOW;
  earlier = null;
  $("messages").replaceChildren();
  for (const item of $("conversation-list").children) item.className = item.dataset.id === id ? "current" : "";
  follow(++poll);
  announce();
}

// Long polls chat-state: each answers as soon as the node changes (or after 10 s).
async function follow(mine) {
  while (mine === poll) {
    try {
      const query = revision === null ? "" : "?after=" + revision + "&wait=10000";
      const next = await api("GET", "conversations/" + current + "/state" + query);
      if (mine !== poll) return;
      revision = next.revision;
      render(next);
    } catch (error) {
      if (error instanceof LoggedOut) return loggedOut();
      if (error.code === "unknown_conversation") {
        // Named in an old address, or left since: show the list instead.
        notice(error.message);
        current = null;
        return loadConversations();
      }
      notice("the node cannot be reached: " + error.message);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function render(next) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const keep = atBottom ? null : firstVisibleRow();
  state = next;
  $("title").textContent = state.title;
  $("sync").textContent = state.members.length + (state.members.length === 1 ? " member · " : " members · ") + (state.peers === 0 ? "no peers connected" : "synced with " + state.peers + " peer" + (state.peers === 1 ? "" : "s"));
  renderMessages();
  // Marked once, for measuring: the first paint of a conversation's messages.
  if (state.messages.length > 0 && performance.getEntriesByName("first-messages").length === 0) performance.mark("first-messages");
  if (atBottom) list.scrollTop = list.scrollHeight;
  else if (keep) keep.row.isConnected && (list.scrollTop += keep.row.getBoundingClientRect().top - keep.top);
  $("newest").hidden = atBottom;
  renderCursors();
  publishFocus();
  renderTyping();
  renderComposer();
  renderMembers();
  renderInvitations();
  renderAdmin().catch((error) => notice(error.message));
}

// The row at the top of the view and where it sits, so a re-render keeps the reader's place.
function firstVisibleRow() {
  const top = $("messages").getBoundingClientRect().top;
  const row = [...$("messages").children].find((r) => r.getBoundingClientRect().bottom > top);
  return row ? { row, top: row.getBoundingClientRect().top } : null;
}

// The newest `shown` messages, with the timeline's notes between them. Rendering is windowed:
// a conversation of any length paints only the newest 200 rows until the reader asks for more.
function renderMessages() {
  const recent = state.messages;
  const known = new Set(recent.map((m) => m.id));
  const all = earlier ? earlier.filter((m) => !known.has(m.id)).concat(recent) : recent;
  const windowed = all.slice(-shown);
  const hidden = (earlier ? all.length : state.totalMessages) - windowed.length;
  const rows = [];
  if (hidden > 0) {
    const more = element("li", "earlier");
    const button = element("button", "", "Show " + Math.min(hidden, WINDOW) + " earlier of " + hidden);
    button.onclick = () => act(showEarlier);
    more.append(button);
    rows.push(more);
  }
  const from = windowed.length > 0 && hidden > 0 ? windowed[0].postedAt : 0;
  const notes = state.notes.filter((note) => note.at >= from);
  const focused = new Set(state.cursors.map((cursor) => cursor.message));
  for (const message of windowed) {
    while (notes.length > 0 && notes[0].at <= message.postedAt) rows.push(noteRow(notes.shift()));
    rows.push(messageRow(message, focused.has(message.id)));
  }
  rows.push(...notes.map(noteRow));
  $("messages").replaceChildren(...rows);
}

async function showEarlier() {
  if (!earlier) earlier = (await api("GET", "conversations/" + current + "/messages")).messages;
  const list = $("messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  shown += WINDOW;
  renderMessages();
  list.scrollTop = list.scrollHeight - fromBottom;
}

function noteRow(note) {
  const row = element("li", "note");
  row.append(element("span", "time", time(note.at)), element("span", "", "· " + note.text));
  return row;
}

function messageRow(message, focused) {
  const row = element("li", focused ? "message focused" : "message");
  row.dataset.id = message.id;
  const name = message.authorName ?? message.author.slice(0, 11);
  const author = element("span", "author", name);
  author.style.color = state.colors[message.author] ?? "#444";
  row.append(avatar(message.author, name), element("span", "time", time(message.postedAt)), author);
  if (message.deleted) {
    row.append(element("span", "meta", "[deleted]"));
    return row;
  }
  row.append(element("span", "body", message.text));
  if (message.edited) row.append(element("span", "meta", " (edited)"));
  const readers = state.cursors.filter((cursor) => cursor.message === message.id).map((cursor) => cursor.name);
  if (readers.length > 0) row.append(element("span", "readers", " ◂ " + readers.join(", ")));
  const mine = message.author === state.me;
  const rank = ["none", "view", "comment", "edit", "admin"].indexOf(state.permission);
  if ((mine && state.canSend) || rank >= 3) {
    const edit = element("button", "edit", "edit");
    edit.onclick = async () => {
      const text = prompt("Edit message", message.text);
      if (text !== null) await act(() => api("PATCH", "conversations/" + current + "/messages/" + encodeURIComponent(message.id), { text }));
    };
    row.append(edit);
  }
  if ((mine && state.canSend) || rank >= 4) {
    const remove = element("button", "delete", "delete");
    remove.onclick = () => act(() => api("DELETE", "conversations/" + current + "/messages/" + encodeURIComponent(message.id)));
    row.append(remove);
  }
  return row;
}

// Live cursors: one pill per reader in the margin, at the height of the message they read
// (the node hides a cursor after 30 s without an update); a click jumps there.
function renderCursors() {
  const list = $("messages");
  const rail = $("cursor-rail");
  rail.replaceChildren(...state.cursors.flatMap((cursor) => {
    const row = list.querySelector('li[data-id="' + CSS.escape(cursor.message) + '"]');
    if (!row) return [];
    const pill = element("button", "pill", cursor.name);
    pill.style.background = state.colors[cursor.key] ?? "#57a";
    pill.style.top = Math.round(row.offsetTop / Math.max(1, list.scrollHeight) * (rail.clientHeight - 18)) + "px";
    pill.title = cursor.name + " is reading here";
    pill.onclick = () => jumpTo(cursor.message);
    return [pill];
  }));
}

function jumpTo(id) {
  const row = $("messages").querySelector('li[data-id="' + CSS.escape(id) + '"]');
  if (!row) return;
  row.scrollIntoView({ block: "center" });
  row.classList.add("jumped");
  setTimeout(() => row.classList.remove("jumped"), 1500);
}

function renderTyping() {
  const names = state.typing;
  const text = names.length === 0 ? "" : names.length === 1 ? names[0] + " is typing"
    : names.length === 2 ? names[0] + " and " + names[1] + " are typing" : names.length + " people are typing";
  $("typing-text").textContent = text;
  $("typing-dots").hidden = names.length === 0;
}

// The composer: disabled with the reason when this member may not send; a view-only member can
// ask for comment permission, and a removed one is told who removed them.
function renderComposer() {
  $("text").disabled = !state.canSend;
  $("send").disabled = !state.canSend;
  $("text").placeholder = state.canSend ? "Message" : (state.reason ?? "sending is disabled");
  $("request-access").hidden = state.permission !== "view";
  if (state.permission === "none" && state.reason) notice(state.reason);
}

function renderMembers() {
  const filter = $("member-filter").value.trim().toLowerCase();
  const admin = state.permission === "admin";
  const members = state.members.filter((m) => !filter || m.name.toLowerCase().includes(filter) || m.key.toLowerCase().startsWith(filter));
  $("member-list").replaceChildren(...members.map((member) => {
    const item = element("li", "member");
    item.dataset.key = member.key;
    item.append(avatar(member.key, member.name), element("span", "name", member.name + (member.isSelf ? " (you)" : "")),
      element("span", "badge " + member.permission, member.permission), element("span", "dot " + member.status));
    let detail = member.status + (member.customStatus ? " – " + member.customStatus : "");
    if (member.status === "offline" && member.lastSeen) detail += " · last seen " + ago(member.lastSeen);
    item.append(element("span", "detail", detail));
    // The hover card: key, presence, custom status, last seen.
    const card = element("div", "card");
    card.append(element("strong", "", member.name), element("span", "", member.key.slice(0, 20) + "…"),
      element("span", "", member.permission + " · " + member.status),
      element("span", "", member.customStatus ? "“" + member.customStatus + "”" : "no custom status"),
      element("span", "", member.lastSeen ? "last seen " + ago(member.lastSeen) : "not seen yet"));
    item.append(card);
    if (admin && !member.isSelf) item.append(memberControls(member));
    return item;
  }));
}

// An admin's controls on a member: change the permission, or remove them.
function memberControls(member) {
  const controls = element("span", "controls");
  const select = element("select");
  select.setAttribute("aria-label", "Permission of " + member.name);
  for (const permission of ["view", "comment", "edit", "admin"]) select.append(new Option(permission, permission, false, permission === member.permission));
  select.onchange = () => act(() => command("grant", { conversation: current, member: member.key, permission: select.value }));
  const remove = element("button", "remove", "remove");
  remove.onclick = () => {
    if (confirm("Remove " + member.name + " from this conversation?")) act(() => command("revoke", { conversation: current, member: member.key }));
  };
  controls.append(select, remove);
  return controls;
}

// Direct invitations this node received, with accept and decline.
function renderInvitations() {
  const pending = state.invitations ?? [];
  $("invitations").hidden = pending.length === 0;
  $("invitation-list").replaceChildren(...pending.map((invitation) => {
    const item = element("li", "", (invitation.label || "a conversation " + invitation.conversation.slice(0, 8)) + " as " + invitation.permission + " ");
    const accept = element("button", "accept", "accept");
    accept.onclick = () => act(async () => {
      const { conversation } = await command("join", { token: invitation.url });
      await loadConversations();
      open(conversation ?? current);
    });
    const decline = element("button", "decline", "decline");
    decline.onclick = () => act(() => command("decline", { token: invitation.url }));
    item.append(accept, decline);
    return item;
  }));
}

// The admin's panel: links with their uses and revoke, access requests, the audit trail.
async function renderAdmin() {
  const admin = state.permission === "admin";
  $("admin").hidden = !admin;
  if (!admin) return;
  const [{ requests }, { links }] = await Promise.all([
    api("GET", "conversations/" + current + "/requests"), command("link_list", { conversation: current })]);
  $("request-list").replaceChildren(...(requests.filter((request) => !request.granted).map((request) => {
    const name = request.authorName ?? request.author.slice(0, 12);
    const item = element("li", "", name + " asks for " + request.permission + (request.note ? ": “" + request.note + "”" : "") + " ");
    const grant = element("button", "", "grant");
    grant.onclick = () => act(() => command("grant", { conversation: current, member: request.author, permission: request.permission }));
    item.append(grant);
    return item;
  })));
  if ($("request-list").children.length === 0) $("request-list").append(element("li", "", "none open"));
  $("link-list").replaceChildren(...links.slice(-20).reverse().map((link) => {
    const uses = link.uses + (link.useLimit ? "/" + link.useLimit : "") + " uses";
    const expiry = link.expiresAt ? " · until " + new Date(link.expiresAt).toLocaleString() : "";
    const item = element("li", "link " + link.state, link.permission + (link.label ? " “" + link.label + "”" : "") + (link.invitee ? " for " + link.invitee.slice(0, 12) : "") + " · " + uses + " · " + link.state + expiry + " ");
    if (link.state === "active") {
      const revoke = element("button", "", "revoke");
      revoke.onclick = () => act(() => command("link_revoke", { conversation: current, token: link.tokenID }));
      item.append(revoke);
    }
    return item;
  }));
  if (links.length === 0) $("link-list").append(element("li", "", "no links yet"));
}

function auditQuery() {
  const query = { conversation: current };
  const action = $("audit-action").value;
  if (action) query.actions = action;
  const user = $("audit-user").value.trim();
  if (user) query.user = user;
  if ($("audit-since").value) query.since = String(Date.parse($("audit-since").value + "T00:00:00"));
  if ($("audit-until").value) query.until = String(Date.parse($("audit-until").value + "T00:00:00") + 86400000);
  return query;
}

async function showAudit() {
  const { entries } = await command("audit", auditQuery());
  $("audit-list").replaceChildren(...entries.slice(-50).reverse().map((entry) => {
    const who = entry.actorName ?? entry.actor.slice(0, 12);
    const whom = entry.target ? " → " + (entry.targetName ?? entry.target.slice(0, 12)) : "";
    return element("li", "", time(entry.at) + " " + entry.action + " " + who + whom + (entry.detail ? " " + entry.detail : ""));
  }));
  if (entries.length === 0) $("audit-list").append(element("li", "", "nothing matches"));
}

async function act(action) {
  try {
    notice(null);
    await action();
  } catch (error) {
    error instanceof LoggedOut ? loggedOut() : notice(error.message);
  }
}

$("composer").onsubmit = async (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !current) return;
  await act(async () => {
    await api("POST", "conversations/" + current + "/messages", { text });
    $("text").value = "";
    typingSent = 0;
    command("publish", { conversation: current, kind: "typing", typing: "false" }).catch(() => {});
  });
};

$("request-access").onclick = () => {
  const note = prompt("Ask the admins for comment permission. A note for them (optional):", "");
  if (note !== null) act(async () => {
    await command("request_access", { conversation: current, permission: "comment", note });
    notice("asked the admins for comment permission");
  });
};

$("create").onsubmit = async (event) => {
  event.preventDefault();
  const title = $("create-title").value.trim();
  if (!title) return;
  await act(async () => {
    const { conversation } = await api("POST", "conversations", { title });
    $("create-title").value = "";
    open(conversation);
  });
};

$("share").onsubmit = async (event) => {
  event.preventDefault();
  const args = { conversation: current, permission: $("share-permission").value };
  const invitee = $("share-invitee").value.trim();
  if (invitee) args.invitee = invitee;
  if ($("share-expiry").value) args.expiresAt = String(Date.now() + Number($("share-expiry").value));
  if ($("share-uses").value) args.useLimit = $("share-uses").value;
  await act(async () => {
    const link = await command("link_create", args);
    $("share-link").value = link.url;
    $("share-result").hidden = false;
    $("share-code").value = link.code ?? "";
    $("share-code-result").hidden = !link.code;
    await renderAdmin();
  });
};

for (const [button, field, what] of [["copy-link", "share-link", "link"], ["copy-code", "share-code", "code"]]) {
  $(button).onclick = async () => {
    $(field).select();
    try {
      await navigator.clipboard.writeText($(field).value);
      notice(what + " copied");
    } catch {
      notice("select the " + what + " and copy it (the browser refused the clipboard)");
    }
  };
}

$("audit").onsubmit = (event) => {
  event.preventDefault();
  act(showAudit);
};

// The CSV download (with the filters shown): fetched with the cookie, handed to the browser as a file.
$("audit-csv").onclick = () => act(async () => {
  const query = auditQuery();
  delete query.conversation;
  const response = await fetch("/api/conversations/" + current + "/audit?format=csv&" + new URLSearchParams(query), { credentials: "same-origin" });
  if (!response.ok) throw new Error((await response.json()).error?.message ?? response.statusText);
  const link = element("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "audit.csv";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
});

for (const action of ["access_granted", "access_revoked", "permission_changed", "message_sent", "message_edited", "message_deleted",
  "link_created", "link_revoked", "link_used", "access_requested", "invitation_accepted", "invitation_declined", "equivocation"]) {
  $("audit-action").append(new Option(action, action));
}

$("member-filter").oninput = () => state && renderMembers();

// Typing: at most every 2 s while the composer has text, and a stop when it empties or sends.
let typingSent = 0;
$("text").oninput = () => {
  const typing = $("text").value.trim() !== "";
  if (typing && Date.now() - typingSent < 2000) return;
  typingSent = typing ? Date.now() : 0;
  command("publish", { conversation: current, kind: "typing", typing: String(typing) }).catch(() => {});
};

// Presence: the status chosen (online, away, do not disturb) with a custom status; online turns
// away after 5 minutes without mouse or key activity, or while the page is hidden, and back on
// activity. A heartbeat every 30 s keeps it.
function effectiveStatus() {
  if (chosenStatus !== "online") return chosenStatus;
  return document.hidden || Date.now() - lastActivity > AWAY_AFTER ? "away" : "online";
}

function announce() {
  if (!current) return;
  // Peers that connected since hear the cursor again, unless the reader has been idle (then it
  // fades on their screens after 30 s).
  if (Date.now() - lastActivity < CURSOR_IDLE) {
    publishedFocus = null;
    publishFocus();
  }
  const status = effectiveStatus();
  autoAway = status === "away" && chosenStatus === "online";
  command("publish", { conversation: current, kind: "presence", status, text: customStatus, lastActiveAt: String(lastActivity) }).catch(() => {});
}
setInterval(announce, 30000);
setInterval(() => { if (chosenStatus === "online" && !autoAway && effectiveStatus() === "away") announce(); }, 15000);
document.addEventListener("visibilitychange", announce);
for (const kind of ["mousemove", "keydown", "wheel", "touchstart"]) {
  addEventListener(kind, () => {
    lastActivity = Date.now();
    if (autoAway && !document.hidden) announce();
  }, { passive: true });
}

$("presence").onsubmit = (event) => {
  event.preventDefault();
  chosenStatus = $("presence-status").value;
  customStatus = $("presence-text").value.trim();
  announce();
};

// The cursor: the last message in view, published when it changes (at most twice a second).
let publishedFocus = null;
let focusTimer = null;
function publishFocus() {
  if (!current || focusTimer) return;
  focusTimer = setTimeout(() => {
    focusTimer = null;
    const list = $("messages");
    const bottom = list.getBoundingClientRect().bottom;
    const visible = [...list.querySelectorAll("li[data-id]")].filter((row) => row.getBoundingClientRect().top < bottom);
    const focus = visible.length > 0 ? visible[visible.length - 1].dataset.id : null;
    if (!focus || focus === publishedFocus) return;
    publishedFocus = focus;
    command("publish", { conversation: current, kind: "cursor", message: focus,
      scrollTop: String(Math.round(list.scrollTop)), scrollHeight: String(list.scrollHeight), viewportHeight: String(list.clientHeight) }).catch(() => {});
  }, 500);
}

$("newest").onclick = () => {
  $("messages").scrollTop = $("messages").scrollHeight;
  $("newest").hidden = true;
};
$("messages").onscroll = () => {
  const list = $("messages");
  lastActivity = Date.now();
  $("newest").hidden = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  publishFocus();
};

function loggedOut() {
  notice("This page is not logged in to the node: run `streamingchat ui` and open the address it prints.");
}

// The conversation named in the address opens at once, while the list loads beside it.
if (wanted) open(wanted);
loadConversations().catch((error) => error instanceof LoggedOut ? loggedOut() : notice(error.message));
