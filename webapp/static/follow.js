// The follow link's page: a button that copies the link, where the browser allows it.
(function () {
  var button = document.getElementById("copy-link");
  var link = document.getElementById("follow-link");
  if (!button || !link || !navigator.clipboard || !window.isSecureContext) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(link.textContent.trim()).then(function () {
      button.textContent = "已复制";
    }, function () {
      button.textContent = "复制失败，请长按链接复制";
    });
  });
})();
