/// The embeddable chat: one `<script src=".../widget.js" data-widget-key="wk_…" async>` tag. It
/// draws a button and a panel, keeps a visitor id in localStorage (so the conversation continues
/// across pages), and posts to `/widget/chat` on the server the script came from. Text is put in
/// with `textContent`, never as HTML.
enum WidgetScript {
    static let source = #"""
        (function () {
          var script = document.currentScript;
          if (!script) return;
          var key = script.getAttribute("data-widget-key");
          var title = script.getAttribute("data-title") || "Chat";
          var base = new URL(script.src).origin;
          var store = "atelier-widget-visitor";
          var visitor = localStorage.getItem(store);
          if (!visitor) {
            visitor = Math.random().toString(36).slice(2) + Date.now().toString(36);
            localStorage.setItem(store, visitor);
          }
          var css = "position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px system-ui,sans-serif;";
          var button = document.createElement("button");
          button.textContent = title;
          button.style.cssText = css + "padding:10px 16px;border-radius:20px;border:0;background:#2b6cb0;color:#fff;cursor:pointer";
          var panel = document.createElement("div");
          panel.style.cssText = css + "bottom:70px;width:320px;height:420px;display:none;flex-direction:column;" +
            "background:#fff;border:1px solid #ccc;border-radius:10px;box-shadow:0 4px 20px rgba(0,0,0,.2)";
          var log = document.createElement("div");
          log.style.cssText = "flex:1;overflow:auto;padding:10px";
          var form = document.createElement("form");
          form.style.cssText = "display:flex;border-top:1px solid #eee";
          var input = document.createElement("input");
          input.style.cssText = "flex:1;border:0;padding:10px;outline:none";
          input.placeholder = "…";
          form.appendChild(input);
          panel.appendChild(log);
          panel.appendChild(form);
          function say(who, text) {
            var line = document.createElement("p");
            line.style.cssText = "margin:6px 0;white-space:pre-wrap;" + (who === "you" ? "text-align:right;color:#2b6cb0" : "");
            line.textContent = text;
            log.appendChild(line);
            log.scrollTop = log.scrollHeight;
          }
          button.onclick = function () {
            panel.style.display = panel.style.display === "none" ? "flex" : "none";
            if (panel.style.display === "flex") input.focus();
          };
          form.onsubmit = function (event) {
            event.preventDefault();
            var text = input.value.trim();
            if (!text) return;
            input.value = "";
            say("you", text);
            fetch(base + "/widget/chat", {
              method: "POST",
              headers: { "Content-Type": "application/json", "X-Widget-Key": key },
              body: JSON.stringify({ message: text, visitor_id: visitor })
            }).then(function (r) { return r.json(); }).then(function (body) {
              say("bot", body.response || body.detail || "…");
            }).catch(function () { say("bot", "…"); });
          };
          document.body.appendChild(panel);
          document.body.appendChild(button);
        })();
        """#
}
