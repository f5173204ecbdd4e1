// The phone page's report form: counts, photo thumbnails and checks before it is sent.
// Without script the form works all the same; the limits come from the form's data-* attributes.
(function () {
  var form = document.getElementById("report-form");
  if (!form || !window.addEventListener || !Array.from) return;
  form.className += " js";
  var MIN = Number(form.getAttribute("data-description-min")), MAX = Number(form.getAttribute("data-description-max"));
  var MAX_PHOTOS = Number(form.getAttribute("data-max-photos")), MAX_MB = Number(form.getAttribute("data-photo-max-mb"));
  var description = document.getElementById("description");
  var count = document.getElementById("description-count");
  var counter = document.getElementById("description-counter");
  var button = document.getElementById("submit-button");
  var camera = document.getElementById("photos-camera");
  var gallery = document.getElementById("photos");
  var thumbs = document.getElementById("thumbs");
  var photoCount = document.getElementById("photo-count");
  // Photos taken one by one with the camera are collected into the gallery input, so that
  // every one of them is sent; without DataTransfer each input keeps its own choice.
  var store = null;
  try { new DataTransfer(); store = []; } catch (e) { store = null; }

  function length(text) { return Array.from(text.trim()).length; }
  function chosen() {
    if (store) return store.slice();
    return Array.from(camera.files).concat(Array.from(gallery.files));
  }
  function sync() {
    var transfer = new DataTransfer();
    store.forEach(function (file) { transfer.items.add(file); });
    gallery.files = transfer.files;
  }
  function photoProblem(files) {
    if (files.length > MAX_PHOTOS) return "最多上传" + MAX_PHOTOS + "张照片，您选择了" + files.length + "张";
    for (var i = 0; i < files.length; i++) {
      if (files[i].size > MAX_MB * 1024 * 1024) return "第" + (i + 1) + "张照片超过" + MAX_MB + " MB，请换一张";
    }
    return "";
  }
  function fieldError(element, message) {
    var field = element.closest(".field");
    var old = field.querySelector(".field-error.js");
    if (old) old.remove();
    if (message) {
      var p = document.createElement("p");
      p.className = "field-error js";
      p.textContent = message;
      field.appendChild(p);
      field.classList.add("invalid");
    } else if (!field.querySelector(".field-error")) {
      field.classList.remove("invalid");
    }
    return !message;
  }
  function showPhotos() {
    var files = chosen();
    Array.from(thumbs.querySelectorAll("img")).forEach(function (img) { URL.revokeObjectURL(img.src); });
    thumbs.innerHTML = "";
    files.forEach(function (file, index) {
      var cell = document.createElement("div");
      cell.className = "thumb";
      var img = document.createElement("img");
      img.alt = "已选照片" + (index + 1);
      img.src = URL.createObjectURL(file);
      cell.appendChild(img);
      if (store) {
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "remove";
        remove.setAttribute("aria-label", "删除第" + (index + 1) + "张照片");
        remove.textContent = "×";
        remove.addEventListener("click", function () { store.splice(index, 1); sync(); showPhotos(); });
        cell.appendChild(remove);
      }
      thumbs.appendChild(cell);
    });
    var problem = photoProblem(files);
    photoCount.textContent = files.length ? "已选择" + files.length + "张照片" : "";
    fieldError(gallery, problem);
  }
  function onPhotos(event) {
    var input = event.target;
    if (store) {
      Array.from(input.files).forEach(function (file) { store.push(file); });
      if (input === camera) input.value = "";
      sync();
    }
    showPhotos();
  }
  function updateCount() {
    var n = length(description.value);
    count.textContent = n;
    counter.className = "counter" + (n < MIN || n > MAX ? " bad" : "");
    if (n >= MIN && n <= MAX) fieldError(description, "");
  }
  description.addEventListener("input", updateCount);
  camera.addEventListener("change", onPhotos);
  gallery.addEventListener("change", onPhotos);
  Array.from(form.querySelectorAll("select")).forEach(function (select) {
    select.addEventListener("change", function () { if (select.value) fieldError(select, ""); });
  });
  updateCount();

  form.addEventListener("submit", function (event) {
    var wish = document.getElementById("kind-wish").checked;
    var category = document.getElementById(wish ? "category-wish" : "category-report");
    var n = length(description.value);
    var ok = fieldError(category, category.value ? "" : (wish ? "请选择心愿类别" : "请选择问题类别"));
    ok = fieldError(description, n < MIN || n > MAX ? "问题描述需要" + MIN + "到" + MAX + "个字，现在是" + n + "个字" : "") && ok;
    ok = fieldError(gallery, photoProblem(chosen())) && ok;
    if (!ok) {
      event.preventDefault();
      var first = form.querySelector(".invalid");
      if (first) first.scrollIntoView({block: "center"});
      return;
    }
    button.disabled = true;
    button.textContent = "正在提交，请稍候…";
  });
  window.addEventListener("pageshow", function () {
    button.disabled = false;
    button.textContent = "提交";
  });
})();
