/*
 * Supabridge link SDK.
 *
 *   <script src="https://bridge.example.com/connect/sdk.js"></script>
 *   Supabridge.connect(linkToken).then(function (r) { r.integrated_account_id; },
 *                                      function (err) { err.reason; });
 *
 * connect opens the hosted connect page in a popup and resolves with
 * {integrated_account_id} once the account is linked. It rejects with an
 * Error whose reason is "blocked" (the popup could not open), "closed" (the
 * user closed it first), or the link's error code (invalid_token,
 * access_denied, validation_error, server_error).
 *
 * The same file runs inside the popup's result page, where it hands the
 * result to the opener; both ends check origins, so no other page can
 * inject or read a result.
 */
(function () {
  "use strict";

  var MESSAGE_TYPE = "supabridge:link-result";
  var script = document.currentScript;
  var scriptOrigin = script && script.src ? new URL(script.src, window.location.href).origin : window.location.origin;

  function linkError(reason, message) {
    var err = new Error(message || reason);
    err.reason = reason;
    return err;
  }

  function connect(linkToken, options) {
    options = options || {};
    return new Promise(function (resolve, reject) {
      if (typeof linkToken !== "string" || linkToken === "") {
        reject(linkError("invalid_token", "A link token is required."));
        return;
      }
      var base;
      try {
        base = new URL(options.baseUrl || scriptOrigin, window.location.href);
      } catch (e) {
        reject(linkError("invalid_options", "baseUrl is not a URL."));
        return;
      }
      var expectedOrigin = base.origin;
      var page = new URL(base.pathname.replace(/\/+$/, "") + "/connect", base);
      page.searchParams.set("link_token", linkToken);
      page.searchParams.set("mode", "popup");
      page.searchParams.set("origin", window.location.origin);

      var width = options.width || 520;
      var height = options.height || 720;
      var left = Math.max(0, (window.screenX || 0) + ((window.outerWidth || width) - width) / 2);
      var top = Math.max(0, (window.screenY || 0) + ((window.outerHeight || height) - height) / 2);
      var popup = window.open(page.toString(), "supabridge-connect",
        "popup,width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
      if (!popup) {
        reject(linkError("blocked", "The browser blocked the connect window."));
        return;
      }

      var done = false;
      function finish() {
        done = true;
        window.removeEventListener("message", onMessage);
        clearInterval(timer);
      }
      function onMessage(event) {
        // Only the popup we opened, showing a page of the Supabridge we
        // asked, may answer.
        if (done || event.origin !== expectedOrigin || event.source !== popup) {
          return;
        }
        var data = event.data;
        if (!data || data.type !== MESSAGE_TYPE) {
          return;
        }
        finish();
        try { popup.close(); } catch (e) { /* already closed */ }
        if (data.status === "success" && typeof data.integrated_account_id === "string") {
          resolve({ integrated_account_id: data.integrated_account_id });
        } else {
          reject(linkError(String(data.error || "server_error"), String(data.error_description || "The account could not be linked.")));
        }
      }
      window.addEventListener("message", onMessage);
      var timer = setInterval(function () {
        if (!done && popup.closed) {
          // A result posted just before the window closed is still in the
          // queue: give it one turn before calling it closed.
          setTimeout(function () {
            if (!done) {
              finish();
              reject(linkError("closed", "The connect window was closed before the account was linked."));
            }
          }, 50);
        }
      }, 250);
    });
  }

  // Inside the popup: post the result to the opener, whose origin the
  // server checked against the environment's allowlist.
  var result = document.getElementById("supabridge-result");
  if (result && window.opener && result.dataset.targetOrigin) {
    var message = { type: MESSAGE_TYPE, status: result.dataset.status };
    if (result.dataset.status === "success") {
      message.integrated_account_id = result.dataset.integratedAccountId;
    } else {
      message.error = result.dataset.error;
      message.error_description = result.dataset.errorDescription;
    }
    window.opener.postMessage(message, result.dataset.targetOrigin);
  }

  window.Supabridge = window.Supabridge || {};
  window.Supabridge.connect = connect;
})();
