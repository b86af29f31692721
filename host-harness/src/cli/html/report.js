// Filters the access lines as the user types: a line (its table body: the main row and the row
// of its other fields) stays when its text contains the query
// (case-insensitive). It reads only the rendered table; no data is embedded in this script.
(function () {
  "use strict";
  var input = document.getElementById("log-search");
  var count = document.getElementById("log-count");
  if (!input || !count) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("#access-log tbody.line"));
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  var total = rows.length;
  input.addEventListener("input", function () {
    var query = input.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var keep = query === "" || texts[i].indexOf(query) !== -1;
      rows[i].hidden = !keep;
      if (keep) { shown++; }
    }
    count.textContent = shown + " of " + total + " lines";
  });
})();
