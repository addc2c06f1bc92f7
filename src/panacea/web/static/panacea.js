// PANACEA dashboard: sign-in, second factor, enrolment, passkeys, sign-out.
//
// Secrets (password, codes, passkey assertions) never travel over NiceGUI's websocket: this
// script posts them to the JSON API with fetch(), and the API's responses set the HttpOnly
// session cookie. The CSRF token is asked of GET /api/v1/auth/me when needed, never kept in
// the page's HTML. Only our own code: no third-party script (see docs/security.md).
(() => {
  "use strict";

  const API = "/api/v1";

  // --- base64url (RFC 4648 section 5), as WebAuthn's JSON forms encode binary members ---
  function fromBase64url(text) {
    let s = String(text).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const binary = atob(s);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // Only paths of this site: never an open redirect through ?next=.
  function safeNext(target) {
    if (!target || target[0] !== "/" || target.startsWith("//") || target.startsWith("/\\")) {
      return "/";
    }
    return target;
  }

  async function api(method, path, body, csrf) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    return { ok: response.ok, status: response.status, data, retryAfter: response.headers.get("Retry-After") };
  }

  async function csrfToken() {
    const me = await api("GET", "/auth/me");
    if (!me.ok || !me.data || !me.data.csrf_token) {
      throw new Error("Your session has ended: sign in again.");
    }
    return me.data.csrf_token;
  }

  function problemText(result, fallback) {
    if (result.status === 429) {
      const wait = result.retryAfter ? ` Try again in ${result.retryAfter} seconds.` : "";
      return `Too many attempts.${wait}`;
    }
    if (result.status === 401 && result.data && result.data.detail === "invalid code") {
      return "That code is not valid. Check the time on your device and try again.";
    }
    if (result.status === 401) return "E-mail or password not recognised.";
    if (result.data && typeof result.data.detail === "string") return result.data.detail;
    return fallback;
  }

  // --- the login page's steps -------------------------------------------------------------
  function loginRoot() {
    return document.querySelector("[data-panacea-login]");
  }

  function say(message) {
    const box = document.querySelector("[data-testid=login-message]");
    if (box) box.textContent = message;
  }

  function showStep(step) {
    const root = loginRoot();
    if (!root) return;
    root.dataset.step = step;
    root.querySelectorAll("[data-login-step]").forEach((el) => {
      el.hidden = el.dataset.loginStep !== step;
    });
    const first = root.querySelector(`[data-login-step="${step}"] input, [data-login-step="${step}"] button`);
    if (first) first.focus();
  }

  function finish() {
    const root = loginRoot();
    window.location.assign(safeNext(root ? root.dataset.next : "/"));
  }

  function afterPassword(data) {
    const root = loginRoot();
    if (!data.mfa_required) {
      finish();
      return;
    }
    if (data.enrolment_required) {
      startEnrolment();
      return;
    }
    const methods = data.mfa_methods || [];
    root.dataset.methods = methods.join(" ");
    root.querySelectorAll("[data-needs-method]").forEach((el) => {
      el.hidden = !methods.includes(el.dataset.needsMethod);
    });
    showStep(methods.includes("totp") ? "totp" : methods.includes("passkey") ? "passkey" : "recovery");
  }

  async function submitPassword(form) {
    const email = form.querySelector("[name=email]").value;
    const password = form.querySelector("[name=password]").value;
    const result = await api("POST", "/auth/login", { email, password });
    form.querySelector("[name=password]").value = "";
    if (!result.ok) {
      say(problemText(result, "Sign-in failed."));
      return;
    }
    say("");
    afterPassword(result.data);
  }

  async function submitCode(form, path) {
    const input = form.querySelector("[name=code]");
    const result = await api("POST", path, { code: input.value.trim() }, await csrfToken());
    input.value = "";
    if (!result.ok) {
      say(problemText(result, "The code was refused."));
      return null;
    }
    say("");
    return result.data;
  }

  async function startEnrolment() {
    showStep("enrol");
    const result = await api("POST", "/auth/mfa/totp/enrol", undefined, await csrfToken());
    if (!result.ok) {
      say(problemText(result, "Could not start the enrolment."));
      return;
    }
    const image = document.querySelector("[data-testid=totp-qr]");
    if (image) {
      // An SVG made for inline use has no namespace; as an image (never markup in the page:
      // nothing in it can run) it needs one.
      let svg = result.data.qr_svg;
      if (!/xmlns=/.test(svg)) svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"');
      image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
      image.hidden = false;
    }
    const secret = document.querySelector("[data-testid=totp-secret]");
    if (secret) secret.textContent = result.data.secret.replace(/(.{4})/g, "$1 ").trim();
    const uri = document.querySelector("[data-testid=totp-uri]");
    if (uri) uri.setAttribute("href", result.data.otpauth_uri);
  }

  function showRecoveryCodes(codes) {
    const list = document.querySelector("[data-testid=recovery-codes]");
    if (list) {
      list.replaceChildren(
        ...codes.map((code) => Object.assign(document.createElement("li"), { textContent: code })),
      );
    }
    showStep("codes");
  }

  // --- WebAuthn: our own JSON <-> ArrayBuffer conversions (WebAuthn L3 section 5.1) -----------
  function requestOptions(json) {
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
    };
  }

  function creationOptions(json) {
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      user: { ...json.user, id: fromBase64url(json.user.id) },
      excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
    };
  }

  function assertionJson(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        authenticatorData: toBase64url(r.authenticatorData),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : undefined,
      },
    };
  }

  function attestationJson(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        attestationObject: toBase64url(r.attestationObject),
        transports: typeof r.getTransports === "function" ? r.getTransports() : [],
      },
    };
  }

  async function passkeySecondFactor() {
    if (!window.PublicKeyCredential) {
      say("This browser does not support passkeys.");
      return;
    }
    const csrf = await csrfToken();
    const options = await api("POST", "/auth/passkeys/authenticate/options", undefined, csrf);
    if (!options.ok) {
      say(problemText(options, "Passkeys are not available."));
      return;
    }
    let credential;
    try {
      credential = await navigator.credentials.get({ publicKey: requestOptions(options.data) });
    } catch (e) {
      say("The passkey was not used (cancelled or not found on this device).");
      return;
    }
    const result = await api("POST", "/auth/passkeys/authenticate/verify", { credential: assertionJson(credential) }, csrf);
    if (!result.ok) {
      say(problemText(result, "The passkey was refused."));
      return;
    }
    finish();
  }

  async function registerPasskey(button) {
    const status = document.querySelector("[data-testid=account-message]");
    const tell = (m) => {
      if (status) status.textContent = m;
    };
    if (!window.PublicKeyCredential) {
      tell("This browser does not support passkeys.");
      return;
    }
    const csrf = await csrfToken();
    const options = await api("POST", "/auth/passkeys/register/options", undefined, csrf);
    if (!options.ok) {
      tell(problemText(options, "Passkeys are not available."));
      return;
    }
    let credential;
    try {
      credential = await navigator.credentials.create({ publicKey: creationOptions(options.data) });
    } catch (e) {
      tell("No passkey was created (cancelled or not supported by this device).");
      return;
    }
    const nameInput = document.querySelector("[name=passkey-name]");
    const name = (nameInput && nameInput.value.trim()) || "passkey";
    const result = await api("POST", "/auth/passkeys/register/verify", { name, credential: attestationJson(credential) }, csrf);
    tell(result.ok ? `Passkey "${name}" registered.` : problemText(result, "The passkey was refused."));
    if (result.ok && button.dataset.reload === "1") window.location.reload();
  }

  async function logout() {
    try {
      const csrf = await csrfToken();
      await api("POST", "/auth/logout", undefined, csrf);
    } catch (e) {
      // Already signed out: the login page is where we go anyway.
    }
    window.location.assign("/login");
  }

  // --- event delegation: works whenever Vue renders the elements ------------------------------
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-panacea-form]");
    if (!form) return;
    event.preventDefault();
    const kind = form.dataset.panaceaForm;
    const busy = form.querySelector("button[type=submit]");
    if (busy) busy.disabled = true;
    let work;
    if (kind === "password") work = submitPassword(form);
    else if (kind === "totp") work = submitCode(form, "/auth/mfa/totp").then((d) => d && finish());
    else if (kind === "recovery") work = submitCode(form, "/auth/mfa/recovery").then((d) => d && finish());
    else if (kind === "enrol-confirm") {
      work = submitCode(form, "/auth/mfa/totp/confirm").then((d) => d && showRecoveryCodes(d.recovery_codes));
    } else work = Promise.resolve();
    work
      .catch((e) => say(e.message || "Something went wrong; try again."))
      .finally(() => {
        if (busy) busy.disabled = false;
      });
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-panacea-action]");
    if (!target) return;
    const action = target.dataset.panaceaAction;
    const handlers = {
      logout: () => logout(),
      passkey: () => passkeySecondFactor(),
      "use-totp": () => showStep("totp"),
      "use-recovery": () => showStep("recovery"),
      "use-passkey": () => showStep("passkey"),
      "enrol-totp": () => startEnrolment(),
      "register-passkey": () => registerPasskey(target),
      continue: () => finish(),
    };
    const handler = handlers[action];
    if (!handler) return;
    event.preventDefault();
    Promise.resolve(handler()).catch((e) => say(e.message || "Something went wrong; try again."));
  });

  // The server decides the first step (a reload in the middle of sign-in resumes it).
  function start() {
    const root = loginRoot();
    if (!root) return;
    const methods = (root.dataset.methods || "").split(" ").filter(Boolean);
    root.querySelectorAll("[data-needs-method]").forEach((el) => {
      el.hidden = !methods.includes(el.dataset.needsMethod);
    });
    if (root.dataset.step === "enrol") startEnrolment().catch((e) => say(e.message));
    else showStep(root.dataset.step || "password");
  }

  // Vue renders the page after this script runs: wait for the login root to appear.
  function whenRendered(attempts) {
    if (loginRoot()) {
      start();
      return;
    }
    if (attempts > 0) window.setTimeout(() => whenRendered(attempts - 1), 50);
  }

  window.panacea = { fromBase64url, toBase64url, safeNext, logout };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => whenRendered(100));
  } else {
    whenRendered(100);
  }
})();

// Scrollable table regions must be reachable by keyboard (WCAG 2.1.1; axe
// "scrollable-region-focusable"): Quasar renders them without a tab stop, so give each one
// tabindex=0 and a name as it appears.
(function () {
  "use strict";
  function label(region) {
    if (region.hasAttribute("tabindex")) return;
    const table = region.closest("[data-testid]");
    region.setAttribute("tabindex", "0");
    region.setAttribute("role", "region");
    region.setAttribute(
      "aria-label",
      table ? "Table " + table.getAttribute("data-testid") + " (scrollable)" : "Scrollable table",
    );
  }
  function sweep() {
    document.querySelectorAll(".q-table__middle.scroll").forEach(label);
  }
  const observer = new MutationObserver(sweep);
  function start() {
    sweep();
    observer.observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
