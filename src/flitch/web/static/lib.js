// Flitch pages: helpers shared by every page's script. Every action goes through the same JSON
// API that scripts use (/api/v1/), with the page's anti-forgery token in the X-CSRF-Token header.

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The server answered ${status}.`);
    this.status = status;
    this.error = body?.error ?? "Error";
    this.fix = body?.fix ?? "Try again in a moment.";
  }
}

export async function api(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRF-Token": csrfToken },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, {
      message: "Flitch could not be reached.",
      fix: "Check that the Flitch server is running and your network is up, then try again.",
    });
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ---- small helpers ---------------------------------------------------------------------------

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function busy(button, on) {
  if (!button) return;
  if (on) {
    button.dataset.idleLabel = button.textContent;
    button.textContent = button.dataset.busyLabel || "Working…";
    button.classList.add("is-busy");
    button.disabled = true;
  } else {
    button.textContent = button.dataset.idleLabel || button.textContent;
    button.classList.remove("is-busy");
    button.disabled = false;
  }
}

export function showError(region, error) {
  if (!region) return;
  region.replaceChildren(
    el("p", { class: "alert-title" }, error.message),
    error.fix ? el("p", {}, error.fix) : "",
  );
  region.hidden = false;
  region.scrollIntoView({ block: "nearest" });
}

export function clearError(region) {
  if (region) {
    region.hidden = true;
    region.replaceChildren();
  }
}

export function toast(message) {
  const box = document.querySelector(".toast");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    box.hidden = true;
  }, 4000);
}

export function formBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.type === "submit" || field.type === "button") {
      continue;
    }
    if (field.type === "checkbox") {
      (body[field.name] ??= []);
      if (field.checked) body[field.name].push(field.value);
    } else {
      body[field.name] = field.value;
    }
  }
  return body;
}

// ---- shared views ----------------------------------------------------------------------------

// A <time> element's text in the reader's own time zone.
export function localTime(time) {
  const when = new Date(time.getAttribute("datetime"));
  if (!Number.isNaN(when.getTime())) time.textContent = when.toLocaleString();
  return time;
}

export function timeElement(iso) {
  if (!iso) return el("span", { class: "muted" }, "Never");
  return localTime(el("time", { datetime: iso }, iso));
}

const STRIPE_KEYS_URL = "https://dashboard.stripe.com/apikeys";

// The seed's troubleshooting for an API error: which of its problems it is, if one.
const PROBLEM_TITLES = {
  AuthenticationFailed: "Authentication failed",
  PermissionMissing: "Missing resources",
};

// A message without the title it starts with ("Authentication failed: Stripe says…" under the
// title "Authentication failed"): each thing is said once.
export function unrepeated(title, message) {
  if (!title || !message?.startsWith(`${title}: `)) return message;
  const rest = message.slice(title.length + 2);
  return rest.charAt(0).toUpperCase() + rest.slice(1);
}

// An alert for a problem ({kind, title, message, fix, link}) or an ApiError.
export function problemAlert(problem) {
  const title = problem.title ?? PROBLEM_TITLES[problem.error] ?? problem.message;
  const soft = problem.kind === "missing_resource" || problem.kind === "no_data_in_mode";
  const href = problem.link ?? (PROBLEM_TITLES[problem.error] ? STRIPE_KEYS_URL : null);
  const link = href
    ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }, "Open API keys in Stripe")
    : null;
  const kind = problem.kind ? { "data-problem": problem.kind } : {};
  const message = unrepeated(title, problem.message);
  return el(
    "div",
    { class: `alert alert-${soft ? "warning" : "error"}`, role: "alert", ...kind },
    el("p", { class: "alert-title" }, title),
    title !== problem.message ? el("p", {}, message) : null,
    problem.fix ? el("p", {}, problem.fix, link ? " " : null, link) : null,
  );
}

export function formatNumber(value) {
  return typeof value === "number" ? value.toLocaleString() : String(value ?? "—");
}

// Set while the page is being left (a link followed): a reload asked for after that would
// cancel the navigation the user started. Cleared if the page is still here a moment later
// (a link that only downloaded a file).
let leaving = false;
window.addEventListener("beforeunload", () => {
  leaving = true;
  window.setTimeout(() => {
    leaving = false;
  }, 3000);
});

// Reload the page to show what an action changed, unless the user has already moved on.
export function reloadPage() {
  if (!leaving) window.location.reload();
}
