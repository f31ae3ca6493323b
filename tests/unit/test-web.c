/* Unit tests of the dashboard generator (web/): escaping, shell quoting, and
 * a whole site from the fixture runs in tests/data/web/results (two runs of
 * one matrix: a new failure with a class and ABI and vmstate findings, a fix,
 * an xfail, a skip, and a hostile cell whose id, evidence and logs carry
 * markup, quotes, control bytes and invalid UTF-8), the host fingerprint
 * of each run (one whole, one from before the fingerprint), and a run judged
 * with ABI severities (machine-type entries, cell "abi", explained_by). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "ml-buf.h"
#include "ml-fs.h"
#include "testhelp.h"
#include "web.h"
#include "ml-common.h"

#define RUN_OLD "20261101-000000-aaaa"
#define RUN_NEW "20261102-000000-bbbb"
#define RUN_JUDGED "20261103-000000-cccc"
#define RUN_ABI "20261104-000000-dddd"
#define CELL_CTL "bookworm-to-bookworm-pc-q35-7.2-k-bookworm-11111111"
#define CELL_FWD "bookworm-to-trixie-pc-q35-7.2-k-bookworm-22222222"
#define CELL_FX "bookworm-to-trixie-pc-i440fx-7.2-k-bookworm-33333333"

static char *read_page(const char *dir, const char *rel)
{
	ml_autofree char *path = ml_path_join(dir, rel);
	char *data = NULL;

	assert_int_equal(ml_read_file(path, 64 << 20, &data, NULL), 0);
	return data;
}

static void test_escape(void **state)
{
	static const char in[] = "<script>alert(1)</script>&\"'</textarea>\x01\x1b\x7f\xc2\x85"
				 "\xff\xfe\xc0\xaf\xed\xa0\x80\r\nok\r\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
	ml_autofree char *out = ml_web_html_escape(in, sizeof(in) - 1);
	(void)state;
	assert_string_equal(out, "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;&lt;/textarea&gt;"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				 "\xef\xbf\xbd\nok\xef\xbf\xbd\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				 "\xef\xbf\xbdz");
}

static void test_shell_join(void **state)
{
	const char *argv[] = { "qemu", "-append", "console=ttyS0 quiet", "it's", "", "a=b,c:d/e" };
	ml_autofree char *s = ml_web_shell_join(argv, ML_ARRAY_SIZE(argv));
	(void)state;
	assert_string_equal(s, "qemu -append 'console=ttyS0 quiet' 'it'\\''s' '' a=b,c:d/e");
}

/* Valid UTF-8 with no control bytes but tab and newline. */
static void assert_clean_text(const char *name, const unsigned char *s)
{
	while (*s) {
		size_t n = 1;
		if (*s < 0x20 && *s != '\n' && *s != '\t')
			fail_msg("%s: control byte 0x%02x", name, *s);
		if (*s == 0x7f)
			fail_msg("%s: DEL", name);
		if (*s >= 0x80) {
			n = *s >= 0xf0 ? 4 : *s >= 0xe0 ? 3 : *s >= 0xc2 ? 2 : 0;
			if (!n)
				fail_msg("%s: invalid UTF-8 lead byte 0x%02x", name, *s);
			for (size_t i = 1; i < n; i++)
				if ((s[i] & 0xc0) != 0x80)
					fail_msg("%s: invalid UTF-8 sequence", name);
		}
		s += n;
	}
}

/* What every page must hold (and not hold) whatever its data. */
static void assert_safe_page(const char *name, const char *html)
{
	const char *p;
	int scripts = 0;

	assert_clean_text(name, (const unsigned char *)html);
	assert_non_null(strstr(html, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
				     "'none'; script-src 'self'; style-src 'self';"));
	for (p = html; (p = strstr(p, "<script")); p++) {
		assert_true(strncmp(p, "<script src=\"", 13) == 0);
		scripts++;
	}
	assert_int_equal(scripts, 1);
	if (strstr(html, " style=") || strstr(html, "<style"))
		fail_msg("%s: inline style", name);
	if (strstr(html, "</textarea") || strstr(html, "<img") || strstr(html, "</pre><img"))
		fail_msg("%s: hostile markup got through", name);
	/* no inline event handler: no tag attribute starting with "on" */
	for (p = html; (p = strstr(p, " on")); p++) {
		const char *q = p + 3;
		const char *lt = p, *gt;
		while (*q >= 'a' && *q <= 'z')
			q++;
		if (*q != '=')
			continue;
		while (lt > html && *lt != '<' && *lt != '>')
			lt--;
		gt = strchr(p, '>');
		if (*lt == '<' && gt)
			fail_msg("%s: event handler attribute near: %.40s", name, p);
	}
}

static void check_dir_pages(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		ml_autofree char *html = NULL;
		if (!strstr(e->d_name, ".html"))
			continue;
		html = read_page(dir, e->d_name);
		assert_safe_page(e->d_name, html);
		n++;
	}
	closedir(d);
	assert_true(n > 0);
}

static void test_site(void **state)
{
	ml_autofree char *out = ml_test_tmpdir();
	ml_autofree char *index = NULL;
	ml_autofree char *html = NULL;
	ml_autofree char *run = NULL;
	ml_autofree char *cell = NULL;
	ml_autofree char *hostile = NULL;
	ml_autofree char *cells_dir = NULL;
	ml_autofree char *run_dir = NULL;
	struct ml_web_options opt = { .quiet = true };
	const char *p;
	DIR *d;
	struct dirent *e;
	(void)state;

	assert_int_equal(ml_web_write_site(ml_test_data("web/results"), out, &opt, &index), 0);
	assert_non_null(strstr(index, "/index.html"));
	assert_true(ml_path_exists(index));

	/* the index: newest first, both runs, the trend chart */
	html = read_page(out, "index.html");
	assert_safe_page("index.html", html);
	assert_non_null(strstr(html, "<svg class=\"trend\""));
	assert_true(strstr(html, RUN_NEW) < strstr(html, ">" RUN_OLD "<"));
	assert_non_null(strstr(html, "2 new</span>"));
	assert_non_null(strstr(html, "1 fixed</span>"));

	/* the run page: verdicts per square, ABI mark, regressions */
	run = read_page(out, RUN_NEW "/index.html");
	assert_safe_page("run page", run);
	assert_non_null(strstr(run, "<a class=\"sq v-fail abi\" href=\"cells/" CELL_FWD ".html\""));
	assert_non_null(strstr(run, "<a class=\"sq v-xfail\" href=\"cells/" CELL_FX ".html\""));
	assert_non_null(strstr(run, "<a class=\"sq v-skip\""));
	assert_non_null(strstr(run, "<a class=\"sq v-pass\""));
	p = strstr(run, "id=\"new-failures\"");
	assert_non_null(p);
	assert_non_null(strstr(p, CELL_FWD));
	assert_true(strstr(p, CELL_FWD) < strstr(p, "id=\"still-failing\""));
	p = strstr(run, "id=\"fixed\"");
	assert_non_null(p);
	assert_true(strstr(p, CELL_FX) && strstr(p, CELL_FX) < strstr(p, "id=\"new-abi\""));
	p = strstr(run, "id=\"new-abi\"");
	assert_non_null(strstr(p, CELL_FWD));
	/* first bad is this run, last good the old one */
	p = strstr(run, "id=\"new-failures\"");
	assert_non_null(strstr(p, "<a href=\"../" RUN_OLD "/index.html\">" RUN_OLD "</a>"));
	assert_non_null(strstr(run, "<code>subsection-unknown</code>"));
	assert_non_null(strstr(run, "id=\"filters\""));
	assert_non_null(strstr(run, "1:10.0.13+ds-0+deb13u1"));
	/* the host fingerprint, its hostile flag inert */
	p = strstr(run, "<h3 id=\"host\">Host</h3>");
	assert_non_null(p);
	assert_non_null(strstr(p, "<dt>CPU vendor</dt><dd>GenuineIntel</dd>"));
	assert_non_null(strstr(p, "<dt>family</dt><dd>6</dd></div><div><dt>model</dt><dd>106</dd></div>"
				  "<div><dt>stepping</dt><dd>6</dd>"));
	assert_non_null(strstr(p, "<dt>microcode</dt><dd>0xd0003a5</dd>"));
	assert_non_null(strstr(p, "<dt>kernel</dt><dd>6.1.0</dd>"));
	assert_non_null(strstr(p, "<dt>accelerator</dt><dd>tcg</dd>"));
	assert_non_null(strstr(p, "<details class=\"host-flags\"><summary>5 CPU flags</summary><p><code>"
				  "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(p, " avx2 fpu sse2 vmx</code></p></details>"));

	/* a failing cell page: class, title, device, ABI differences, vmstate, logs */
	cell = read_page(out, RUN_NEW "/cells/" CELL_FWD ".html");
	assert_safe_page("cell page", cell);
	assert_non_null(strstr(cell, "id=\"failure-class\">subsection-unknown</code>"));
	assert_non_null(strstr(cell, "A subsection the destination does not know"));
	assert_non_null(strstr(cell, "<details class=\"finding abi\" open>"));
	assert_non_null(strstr(cell, "APIC revision"));
	assert_non_null(strstr(cell, "finding vmstate"));
	/* Raw logs are linked relatively (how many ../ depends on where the
	 * checkout lives), never by absolute path. */
	assert_non_null(strstr(cell, "href=\"../"));
	assert_null(strstr(cell, "href=\"/"));
	assert_non_null(strstr(cell, "/cells/" CELL_FWD "/qemu-dst.stderr\">qemu-dst.stderr</a>"));
	assert_non_null(strstr(cell, "Machine type is deprecated"));
	assert_non_null(strstr(cell, "miglab cell --src debian:bookworm --dst debian:trixie --machine pc-q35-7.2 "
				     "--kernel debian:bookworm --accel tcg --memory 256 --workload 64"));
	assert_non_null(strstr(cell, "<a href=\"../../" RUN_NEW "/index.html\">" RUN_NEW "</a>"));

	/* the hostile cell: its page name is a hash, every string inert */
	cells_dir = ml_strdup_printf("%s/%s/cells", out, RUN_NEW);
	check_dir_pages(cells_dir);
	d = opendir(cells_dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "x-", 2) == 0)
			hostile = read_page(cells_dir, e->d_name);
	closedir(d);
	assert_non_null(hostile);
	assert_non_null(strstr(hostile, "evil-&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; "
					"&#39;single&#39; &lt;/textarea&gt;"));
	assert_null(strstr(hostile, "<script>alert"));
	assert_non_null(strstr(hostile, "bad utf8: \xef\xbf\xbd\xef\xbf\xbd"));
	assert_non_null(strstr(hostile, "ctl:\xef\xbf\xbd\xef\xbf\xbd[31m"));
	assert_non_null(strstr(hostile, "--dst-arg &#39;x,id=&#39;\\&#39;&#39;$(reboot)&#39;\\&#39;&#39;&#39;"));
	/* the old run's pages too */
	run_dir = ml_strdup_printf("%s/%s", out, RUN_OLD);
	check_dir_pages(run_dir);
	/* a host recorded before the fingerprint: unknowns, the run's accel */
	{
		ml_autofree char *old_run = read_page(out, RUN_OLD "/index.html");
		p = strstr(old_run, "<h3 id=\"host\">Host</h3>");
		assert_non_null(p);
		assert_non_null(strstr(p, "<dt>microcode</dt><dd><span class=\"dim\">unknown</span></dd>"));
		assert_non_null(strstr(p, "<dt>accelerator</dt><dd>tcg</dd>"));
		assert_non_null(strstr(p, "CPU flags not recorded"));
	}
	assert_true(ml_path_exists(ml_test_data("web/results/" RUN_OLD "/run.json")));
	/* A judged run: categories in the grid, the build failing its own
	 * control named once, and an unsound cell neither a new failure nor a
	 * fix against the run before (where it failed). */
	{
		ml_autofree char *jr = read_page(out, RUN_JUDGED "/index.html");
		ml_autofree char *jc = read_page(out, RUN_JUDGED "/cells/" CELL_FWD ".html");
		ml_autofree char *jdir = ml_strdup_printf("%s/%s/cells", out, RUN_JUDGED);
		check_dir_pages(jdir);
		assert_safe_page("judged run page", jr);
		assert_non_null(strstr(jr, "<a class=\"sq v-source-unsound\" href=\"cells/" CELL_FWD ".html\""));
		assert_non_null(strstr(jr, "<a class=\"sq v-intermittent\" href=\"cells/" CELL_CTL ".html\""));
		p = strstr(jr, "id=\"unsound-builds\"");
		assert_non_null(p);
		assert_non_null(strstr(p, "QEMU 7.2.22 (debian:bookworm) fails migrating to itself here: 2 of 3 attempts"));
		assert_true(strstr(p, CELL_CTL) && strstr(p, CELL_CTL) < strstr(p, "</section>"));
		assert_non_null(strstr(jr, "<span class=\"badge v-source-unsound\">1 source-unsound</span>"));
		/* regressions: the unsound cell is not "fixed", the i440fx cell still fails */
		p = strstr(jr, "id=\"fixed\"");
		assert_true(!p || !strstr(p, CELL_FWD) || strstr(p, CELL_FWD) > strstr(p, "</table>"));
		p = strstr(jr, "id=\"new-failures\"");
		assert_non_null(p);
		assert_true(strstr(p, CELL_FX) && strstr(p, CELL_FX) < strstr(p, "</table>"));
		/* the attention list leaves the unsound cell to the build's line */
		p = strstr(jr, "id=\"attention-table\"");
		assert_non_null(p);
		assert_true(!strstr(p, CELL_FWD) || strstr(p, CELL_FWD) > strstr(p, "</table>"));
		/* the cell page: attempts, the build defect, the direction, logs from attempts/1 */
		assert_safe_page("judged cell page", jc);
		assert_non_null(strstr(jc, "id=\"attempts\""));
		assert_non_null(strstr(jc, "3 of 3 attempt(s) failed"));
		assert_non_null(strstr(jc, "id=\"unsound\""));
		assert_non_null(strstr(jc, "a defect of that build on this host, not of the pair"));
		assert_non_null(strstr(jc, "id=\"direction\">debian:bookworm (QEMU 7.2.22) -&gt; debian:trixie (QEMU 10.0.13)"));
		assert_non_null(strstr(jc, "/cells/" CELL_FWD "/attempts/1/qemu-dst.stderr\">qemu-dst.stderr</a>"));
	}
	{
		ml_autofree char *css = ml_path_join(out, "assets/miglab.css");
		ml_autofree char *js = ml_path_join(out, "assets/miglab.js");
		assert_true(ml_path_exists(css));
		assert_true(ml_path_exists(js));
	}
	ml_test_rmtree(out);
}

/* The text between the start of the element with this id and the end of
 * its table (or section); fails when absent. Caller frees. */
static char *section_of(const char *html, const char *id, const char *end)
{
	ml_autofree char *needle = ml_strdup_printf("id=\"%s\"", id);
	const char *p = strstr(html, needle), *q;

	if (!p)
		fail_msg("no element with id %s", id);
	q = strstr(p, end);
	assert_non_null(q);
	return strndup(p, (size_t)(q - p));
}

#define ABI_CTL "bookworm-to-bookworm-pc-q35-7.2-k-bookworm-a1a1a1a1"
#define ABI_FWD "bookworm-to-trixie-pc-q35-7.2-k-bookworm-b2b2b2b2"
#define ABI_BACK "trixie-to-bookworm-pc-q35-7.2-k-bookworm-c3c3c3c3"
#define ABI_FX_WARN "bookworm-to-trixie-pc-i440fx-7.2-k-bookworm-d4d4d4d4"
#define ABI_FX_INFO "trixie-to-bookworm-pc-i440fx-7.2-k-bookworm-e5e5e5e5"
#define ABI_CONT "bookworm-to-trixie-pc-q35-5.2-k-bookworm-f6f6f6f6"
#define ABI_XCHK "trixie-to-bookworm-pc-q35-5.2-k-bookworm-a7a7a7a7"
#define MT_BREAK "mt-debian_3abookworm..debian_3atrixie_40pc-q35-7.2"
#define MT_WARN "mt-debian_3abookworm..debian_3atrixie_40pc-i440fx-7.2"
#define MT_INFO "mt-debian_3abookworm..debian_3atrixie_40pc-q35-5.2"

/* A run judged with ABI severities: the machine-type entries come before
 * the grid and the attention list, breaks first; the attention list holds
 * only the cells that need a reader; the grid marks breaks and ABI errors. */
static void test_site_abi(void **state)
{
	ml_autofree char *out = ml_test_tmpdir();
	ml_autofree char *run = NULL;
	ml_autofree char *mt = NULL;
	ml_autofree char *att = NULL;
	ml_autofree char *fwd = NULL;
	ml_autofree char *back = NULL;
	ml_autofree char *cells_dir = NULL;
	struct ml_web_options opt = { .quiet = true };
	const char *p, *b, *w, *i;
	(void)state;

	assert_int_equal(ml_web_write_site(ml_test_data("web/results"), out, &opt, NULL), 0);
	cells_dir = ml_strdup_printf("%s/%s/cells", out, RUN_ABI);
	check_dir_pages(cells_dir);
	run = read_page(out, RUN_ABI "/index.html");
	assert_safe_page("ABI run page", run);

	/* order: the machine-type section, then the grid, then attention */
	p = strstr(run, "id=\"machine-abi\"");
	assert_non_null(p);
	assert_true(p < strstr(run, "id=\"matrix\""));
	assert_true(strstr(run, "id=\"matrix\"") < strstr(run, "id=\"attention\""));
	assert_non_null(strstr(run, "<a href=\"#machine-abi\">machine-type ABI</a>"));

	/* one row per entry, break, warn, info (run.json lists them info first) */
	mt = section_of(run, "machine-abi-table", "</section>"); /* tables inside */
	b = strstr(mt, "<tr class=\"mt-row\" id=\"" MT_BREAK "\" data-mt=\"break\">");
	w = strstr(mt, "<tr class=\"mt-row\" id=\"" MT_WARN "\" data-mt=\"warn\">");
	i = strstr(mt, "<tr class=\"mt-row\" id=\"" MT_INFO "\" data-mt=\"info\">");
	assert_true(b && w && i && b < w && w < i);
	/* the builds, the verdict badge, the kinds worst first, the sentence */
	assert_non_null(strstr(b, "<code>debian:bookworm</code> (QEMU 7.2.22)<br>vs <code>debian:trixie</code> "
				  "(QEMU 10.0.13)</td><td><code>pc-q35-7.2</code></td><td><span class=\"badge "
				  "mt-break\">break</span></td><td><span class=\"badge sev-error\">virtio-queue 23 "
				  "error</span> <span class=\"badge sev-warn\">acpi 2 warn</span>"));
	assert_non_null(strstr(b, "machine-type ABI break: debian:bookworm (QEMU 7.2.22) and debian:trixie"));
	/* its cells, linked */
	assert_true(strstr(b, "href=\"cells/" ABI_FWD ".html\"") < w);
	assert_true(strstr(b, "href=\"cells/" ABI_BACK ".html\"") < w);
	/* the differences: 20 of the 23 virtqueue ones, then "3 more" */
	p = strstr(b, "<details class=\"mt-diffs\"><summary>25 differences, booted with <code>debian:bookworm</code>");
	assert_true(p && p < w);
	assert_non_null(strstr(p, "3 more of this kind"));
	assert_true(strstr(p, "3 more of this kind") < strstr(p, "acpi 2 warn"));
	/* guest-controlled strings of the differences stay text */
	assert_non_null(strstr(b, "0000:00:01.0 (console) &lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot;"));
	assert_non_null(strstr(b, "guest said: &lt;script&gt;"));
	assert_null(strstr(run, "<script>alert"));
	/* firmware-decided differences say so */
	assert_non_null(strstr(i, "title=\"the two sides ran different guest firmware, which decides this value\">firmware"));

	/* attention: the failure (with its explanation), the pass with an ABI
	 * error, the passes with a continuity or cross-check warning; not the
	 * passes with only info or warn ABI findings, nor the control */
	att = section_of(run, "attention-table", "</table>");
	assert_non_null(strstr(att, ABI_FWD));
	assert_non_null(strstr(att, ABI_BACK));
	assert_non_null(strstr(att, ABI_CONT));
	assert_non_null(strstr(att, ABI_XCHK));
	assert_null(strstr(att, ABI_FX_INFO));
	assert_null(strstr(att, ABI_FX_WARN));
	assert_null(strstr(att, ABI_CTL));
	assert_non_null(strstr(run, "Cells that need attention <span class=\"count\">4</span>"));
	assert_non_null(strstr(att, "<span class=\"explained\">explained by the machine-type ABI of pc-q35-7.2: "
				    "the builds give this virtqueue different sizes at a fresh boot (&lt;script&gt;"));
	assert_non_null(strstr(att, "(<a href=\"#" MT_BREAK "\">the machine type's ABI</a>)"));
	assert_non_null(strstr(att, "<span class=\"badge sev-error\">error</span><span class=\"small\"> ABI</span>"));
	assert_non_null(strstr(att, "<span class=\"badge sev-warn\">continuity</span>"));
	assert_non_null(strstr(att, "<span class=\"badge sev-warn\">ABI cross-check</span>"));

	/* the grid: a break of the machine type is marked (class mtb and ≠);
	 * the blue ABI corner is the ABI error only */
	assert_non_null(strstr(run, "<a class=\"sq v-pass abi mtb\" href=\"cells/" ABI_BACK ".html\""));
	assert_non_null(strstr(run, "<a class=\"sq v-fail mtb\" href=\"cells/" ABI_FWD ".html\""));
	assert_non_null(strstr(run, "<a class=\"sq v-pass\" href=\"cells/" ABI_FX_WARN ".html\""));
	assert_non_null(strstr(run, "<a class=\"sq v-pass\" href=\"cells/" ABI_FX_INFO ".html\""));
	p = strstr(run, "<a class=\"sq v-fail mtb\" href=\"cells/" ABI_FWD ".html\"");
	assert_non_null(strstr(p, "data-b=\"1\""));
	{
		static const char mark[] = "<b>\xe2\x9c\x97</b><i>\xe2\x89\xa0</i></a>";
		const char *q = strstr(p, "</a>");
		assert_non_null(q);
		assert_true(strncmp(q + 4 - strlen(mark), mark, strlen(mark)) == 0);
	}
	assert_non_null(strstr(run, "<option value=\"mtb\">machine-type ABI break</option>"));

	/* the failing cell: the explanation linked to the entry, the verdicts */
	fwd = read_page(out, RUN_ABI "/cells/" ABI_FWD ".html");
	assert_safe_page("ABI fwd cell", fwd);
	p = strstr(fwd, "<th>explained by</th><td class=\"explained-by\">explained by the machine-type ABI");
	assert_non_null(p);
	assert_non_null(strstr(p, "<a href=\"../index.html#" MT_BREAK "\">the machine type&#39;s ABI on the run page</a>"));
	p = strstr(fwd, "<td id=\"machine-type\"><span class=\"badge mt-break\">break</span> "
			"<span class=\"badge sev-error\">error</span> machine-type ABI break: ");
	assert_non_null(p);
	assert_non_null(strstr(p, "(<a href=\"../index.html#" MT_BREAK "\">on the run page</a>)"));
	assert_non_null(strstr(fwd, "<tr><th>ABI of this cell</th><td><span class=\"badge sev-info\">info</span>"));

	/* the pass with the ABI error: per-difference kind and severity, what it
	 * was compared with, the reference, and hostile keys as text */
	back = read_page(out, RUN_ABI "/cells/" ABI_BACK ".html");
	assert_safe_page("ABI back cell", back);
	p = strstr(back, "<details class=\"finding abi\" open><summary><strong>reboot-dst</strong>: 1 difference "
			 "against <code>destination-boot</code> <span class=\"badge sev-error\">error</span>");
	assert_non_null(p);
	assert_non_null(strstr(p, "Compared with a fresh boot of the destination build."));
	assert_non_null(strstr(p, "<p class=\"kinds\"><span class=\"badge sev-error\">virtio-queue 1 error</span>"));
	assert_non_null(strstr(p, "<p class=\"reference\">the guest after the reboot on the destination sees the "
				  "source build&#39;s machine"));
	assert_non_null(strstr(p, "<tr><td><span class=\"badge sev-error\">virtio-queue error</span></td><td>virtio"
				  "</td><td><code>0000:00:01.0 (console) &lt;script&gt;"));
	/* a firmware-decided difference on the info cell's page */
	{
		ml_autofree char *info = read_page(out, RUN_ABI "/cells/" ABI_FX_INFO ".html");
		assert_non_null(strstr(info, "<span class=\"badge sev-info\">firmware-version info</span> <span "
					     "class=\"dim small firmware\" title=\"the two sides ran different guest firmware"));
		assert_non_null(strstr(info, "<span class=\"badge mt-warn\">warn</span>"));
	}
	ml_test_rmtree(out);
}

/* Only the named run gets pages; the index still lists both. */
static void test_site_one_run(void **state)
{
	ml_autofree char *out = ml_test_tmpdir();
	ml_autofree char *html = NULL;
	char *runs[] = { strdup(ml_test_data("web/results/" RUN_NEW)) };
	struct ml_web_options opt = { .runs = (const char *const *)runs, .n_runs = 1, .quiet = true };
	ml_autofree char *old_page = ml_path_join(out, RUN_OLD "/index.html");
	(void)state;

	assert_int_equal(ml_web_write_site(ml_test_data("web/results"), out, &opt, NULL), 0);
	assert_false(ml_path_exists(old_page));
	html = read_page(out, "index.html");
	assert_non_null(strstr(html, RUN_OLD));
	assert_non_null(strstr(html, "href=\"" RUN_NEW "/index.html\""));
	free(runs[0]);
	ml_test_rmtree(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_shell_join),
		cmocka_unit_test(test_site),
		cmocka_unit_test(test_site_abi),
		cmocka_unit_test(test_site_one_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
