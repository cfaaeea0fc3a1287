// The administration pages (people and rota, resources, canned responses, settings, audit
// log). Plain JavaScript like dashboard.js, whose helpers it borrows (window.Porchlight).
// The script editor and the statistics have their own files (editor.js, statistics.js).
(function () {
  "use strict";
})();
