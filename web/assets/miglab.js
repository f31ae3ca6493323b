/* miglab dashboard: filters of the run page over the cells' data attributes
 * (data-m machine, data-k kernel, data-v verdict, data-a ABI mark, data-b
 * machine-type ABI break, data-c failure class). The pages are complete without it; it only hides. */
'use strict';
(function () {
  function init() {
    var form = document.getElementById('filters');
    if (!form) return;
    var selects = form.querySelectorAll('select');
    var out = document.getElementById('shown');
    form.hidden = false;
    function apply() {
      var f = {};
      selects.forEach(function (s) { f[s.name] = s.value; });
      var shown = 0, total = 0;
      document.querySelectorAll('[data-v]').forEach(function (el) {
        var d = el.dataset;
        var ok = (!f.m || d.m === f.m) && (!f.k || d.k === f.k) &&
          (!f.v || (f.v === 'abi' ? d.a === '1' : f.v === 'mtb' ? d.b === '1' : d.v === f.v)) && (!f.c || d.c === f.c);
        el.classList.toggle('off', !ok);
        if (el.classList.contains('sq')) { total++; if (ok) shown++; }
      });
      document.querySelectorAll('section.grid[data-k]').forEach(function (sec) {
        sec.hidden = !!f.k && sec.dataset.k !== f.k;
      });
      if (out) out.textContent = shown + ' of ' + total + ' cells shown';
    }
    selects.forEach(function (s) { s.addEventListener('change', apply); });
    form.addEventListener('reset', function () { setTimeout(apply, 0); });
    form.addEventListener('submit', function (e) { e.preventDefault(); });
    apply();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
