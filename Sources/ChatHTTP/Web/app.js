// StreamingChat in the browser: the node's HTTP API, long-polled. No build step, nothing
// loaded from outside. Every text from other members goes through textContent, never HTML.
const fragment = new URLSearchParams(location.hash.slice(1));
const key = fragment.get("key") ?? sessionStorage.getItem("streamingchat-key");
const wanted = fragment.get("conversation");
if (key) sessionStorage.setItem("streamingchat-key", key);
history.replaceState(null, "", location.pathname + location.search);

const $ = (id) => document.getElementById(id);
// Anything unexpected is said in the notice line rather than lost in the console.
addEventListener("error", (event) => notice("error: " + event.message));
addEventListener("unhandledrejection", (event) => notice("error: " + (event.reason?.message ?? event.reason)));
let current = null;       // conversation id
let revision = null;      // the last chat-state revision seen
let state = null;
let poll = 0;             // a new poll supersedes the old one

async function api(method, path, body) {
  const response = await fetch("/api/" + path, {
    method, headers: { "Authorization": "Bearer " + key, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const value = await response.json();
  if (!response.ok) throw new Error(value.error?.message ?? response.statusText);
  return value;
}

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

async function loadConversations() {
  const { conversations } = await api("GET", "conversations");
  const list = $("conversation-list");
  list.replaceChildren(...conversations.map((conversation) => {
    const item = element("li", conversation.id === current ? "current" : "", conversation.title || conversation.id.slice(0, 12));
    item.title = conversation.messages + " messages, " + conversation.members + " members";
    item.onclick = () => open(conversation.id);
    return item;
  }));
  if (!current && conversations.length > 0) open(conversations.find((c) => c.id === wanted)?.id ?? conversations[0].id);
}

function open(id) {
  current = id;
  revision = null;
  state = null;
  $("messages").replaceChildren();
  loadConversations();
  follow(++poll);
  announce();
}

// Long polls chat-state: each answers as soon as the node changes.
async function follow(mine) {
  while (mine === poll) {
    try {
      const query = revision === null ? "" : "?after=" + revision + "&wait=10000";
      const next = await api("GET", "conversations/" + current + "/state" + query);
      if (mine !== poll) return;
      revision = next.revision;
      render(next);
    } catch (error) {
      notice("the node cannot be reached: " + error.message);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function render(next) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  state = next;
  $("title").textContent = state.title;
  $("sync").textContent = state.members.length + (state.members.length === 1 ? " member · " : " members · ") + (state.peers === 0 ? "no peers connected" : "synced with " + state.peers + " peer" + (state.peers === 1 ? "" : "s"));
  const rows = [];
  const notes = [...state.notes];
  for (const message of state.messages) {
    while (notes.length > 0 && notes[0].at <= message.postedAt) rows.push(noteRow(notes.shift()));
    rows.push(messageRow(message));
  }
  rows.push(...notes.map(noteRow));
  list.replaceChildren(...rows);
  publishFocus();
  if (atBottom) list.scrollTop = list.scrollHeight;
  $("newest").hidden = atBottom;
  $("typing").textContent = state.typing.length === 0 ? "" : state.typing.length === 1 ? state.typing[0] + " is typing…" : state.typing.join(" and ") + " are typing…";
  $("text").disabled = !state.canSend;
  $("text").placeholder = state.canSend ? "Message" : (state.reason ?? "sending is disabled");
  renderMembers();
  renderAdmin().catch((error) => notice(error.message));
}

function noteRow(note) {
  const row = element("li", "note");
  row.append(element("span", "time", time(note.at)), element("span", "", "· " + note.text));
  return row;
}

function messageRow(message) {
  const row = element("li");
  row.dataset.id = message.id;
  const author = element("span", "author", message.authorName ?? message.author.slice(0, 11));
  author.style.color = state.colors[message.author] ?? "#444";
  row.append(element("span", "time", time(message.postedAt)), author);
  if (message.deleted) {
    row.append(element("span", "meta", "[deleted]"));
    return row;
  }
  row.append(element("span", "", message.text));
  if (message.edited) row.append(element("span", "meta", " (edited)"));
  const readers = state.cursors.filter((cursor) => cursor.message === message.id).map((cursor) => cursor.name);
  if (readers.length > 0) row.append(element("span", "readers", " ◂ " + readers.join(", ")));
  const mine = message.author === state.me;
  if (mine && state.canSend) {
    const edit = element("button", "", "edit");
    edit.onclick = async () => {
      const text = prompt("Edit message", message.text);
      if (text !== null) await act(() => api("PATCH", "conversations/" + current + "/messages/" + encodeURIComponent(message.id), { text }));
    };
    row.append(edit);
  }
  if ((mine && state.canSend) || state.permission === "admin") {
    const remove = element("button", "", "delete");
    remove.onclick = () => act(() => api("DELETE", "conversations/" + current + "/messages/" + encodeURIComponent(message.id)));
    row.append(remove);
  }
  return row;
}

// The admin's panel: share links and invitations, access requests, the audit trail.
async function renderAdmin() {
  const admin = state.permission === "admin";
  $("admin").hidden = !admin;
  if (!admin) return;
  const { requests } = await api("GET", "conversations/" + current + "/requests");
  $("request-list").replaceChildren(...(requests.filter((request) => !request.granted).map((request) => {
    const name = request.authorName ?? request.author.slice(0, 12);
    const item = element("li", "", name + " asks for " + request.permission + (request.note ? ": “" + request.note + "”" : "") + " ");
    const grant = element("button", "", "grant");
    grant.onclick = () => act(() => api("POST", "command", { command: "grant", arguments: { conversation: current, member: request.author, permission: request.permission } }));
    item.append(grant);
    return item;
  })));
  if ($("request-list").children.length === 0) $("request-list").append(element("li", "", "none open"));
}

async function showAudit() {
  const action = $("audit-action").value;
  const query = { conversation: current };
  if (action) query.actions = action;
  const { entries } = await api("POST", "command", { command: "audit", arguments: query });
  $("audit-list").replaceChildren(...entries.slice(-50).reverse().map((entry) => {
    const who = entry.actorName ?? entry.actor.slice(0, 12);
    const whom = entry.target ? " → " + (entry.targetName ?? entry.target.slice(0, 12)) : "";
    return element("li", "", time(entry.at) + " " + entry.action + " " + who + whom + (entry.detail ? " " + entry.detail : ""));
  }));
}

function renderMembers() {
  $("member-list").replaceChildren(...state.members.map((member) => {
    const item = element("li");
    const avatar = element("span", "avatar", (member.name[0] ?? "?").toUpperCase());
    avatar.style.background = member.color;
    item.append(avatar, element("span", "", member.name + (member.isSelf ? " (you)" : "")), element("span", "dot " + member.status));
    let detail = member.permission + " · " + member.status + (member.customStatus ? " – " + member.customStatus : "");
    if (member.status === "offline" && member.lastSeen) detail += " · last seen " + ago(member.lastSeen);
    item.append(element("span", "detail", detail));
    return item;
  }));
}

async function act(action) {
  try {
    notice(null);
    await action();
  } catch (error) {
    notice(error.message);
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
    api("POST", "command", { command: "publish", arguments: { conversation: current, kind: "typing", typing: "false" } }).catch(() => {});
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
  await act(async () => {
    const link = await api("POST", "command", { command: "link_create", arguments: args });
    $("share-link").value = link.url;
    $("share-result").hidden = false;
  });
};

$("copy-link").onclick = async () => {
  $("share-link").select();
  try {
    await navigator.clipboard.writeText($("share-link").value);
    notice("link copied");
  } catch {
    notice("select the link and copy it (the browser refused the clipboard)");
  }
};

$("audit").onsubmit = (event) => {
  event.preventDefault();
  act(showAudit);
};

// The CSV download: fetched with the key, handed to the browser as a file.
$("audit-csv").onclick = () => act(async () => {
  const response = await fetch("/api/conversations/" + current + "/audit?format=csv", { headers: { "Authorization": "Bearer " + key } });
  if (!response.ok) throw new Error((await response.json()).error?.message ?? response.statusText);
  const link = element("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "audit.csv";
  link.click();
  URL.revokeObjectURL(link.href);
});

for (const action of ["access_granted", "access_revoked", "permission_changed", "message_sent", "message_edited", "message_deleted",
  "link_created", "link_revoked", "link_used", "access_requested", "invitation_accepted", "invitation_declined", "equivocation"]) {
  $("audit-action").append(new Option(action, action));
}

// Typing: at most every 2 s while the composer has text, and a stop when it empties or sends.
let typingSent = 0;
$("text").oninput = () => {
  const typing = $("text").value.trim() !== "";
  if (typing && Date.now() - typingSent < 2000) return;
  typingSent = typing ? Date.now() : 0;
  api("POST", "command", { command: "publish", arguments: { conversation: current, kind: "typing", typing: String(typing) } }).catch(() => {});
};

// Presence: online while the page is open (a heartbeat every 30 s keeps it), away when hidden.
function announce() {
  if (!current) return;
  // Peers that connected since hear the cursor again too.
  publishedFocus = null;
  publishFocus();
  const status = document.hidden ? "away" : "online";
  api("POST", "command", { command: "publish", arguments: { conversation: current, kind: "presence", status, lastActiveAt: String(Date.now()) } }).catch(() => {});
}
setInterval(announce, 30000);
document.addEventListener("visibilitychange", announce);

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
    api("POST", "command", { command: "publish", arguments: { conversation: current, kind: "cursor", message: focus,
      scrollTop: String(Math.round(list.scrollTop)), scrollHeight: String(list.scrollHeight), viewportHeight: String(list.clientHeight) } }).catch(() => {});
  }, 500);
}

$("newest").onclick = () => {
  $("messages").scrollTop = $("messages").scrollHeight;
  $("newest").hidden = true;
};
$("messages").onscroll = () => {
  const list = $("messages");
  $("newest").hidden = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  publishFocus();
};

if (!key) {
  notice("This page needs the node's key: run `streamingchat ui` and open the address it prints.");
} else {
  loadConversations().catch((error) => notice(error.message));
}
