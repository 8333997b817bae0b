// Social panel on HD Ticket and Issue forms: where the ticket came from, what went back, and a reply action.
(() => {
	const esc = (value) => frappe.utils.escape_html(value || "");
	const STATUS_COLOURS = { Queued: "blue", Sending: "orange", Sent: "green", Failed: "red" };

	function render(frm, data) {
		const posts = data.posts
			.map(
				(p) => `<div class="mb-3">
					<div>${esc(p.text).replace(/\n/g, "<br>")}</div>
					<div class="text-muted small">${esc(p.author_name)} (@${esc(p.author_handle)}) · ${esc(p.network)} ·
						${frappe.datetime.str_to_user(p.posted_at)}
						${/^https?:\/\//.test(p.url || "") ? `· <a href="${esc(p.url)}" target="_blank" rel="noopener noreferrer nofollow">${__("view original")}</a>` : ""}
						· <a href="/app/social-post/${encodeURIComponent(p.name)}">${__("post")}</a></div>
				</div>`
			)
			.join("");
		const replies = data.replies
			.map(
				(r) => `<div class="mb-2">
					<span class="indicator-pill ${STATUS_COLOURS[r.status] || "gray"}">${esc(__(r.status))}</span>
					<span class="text-muted small">${esc(__(r.reply_mode))}</span>
					${r.network_status ? `<span class="text-muted small">· ${esc(r.network_status)}</span>` : ""}
					${r.url && /^https?:\/\//.test(r.url) ? `<a class="small" href="${esc(r.url)}" target="_blank" rel="noopener noreferrer">${__("view on network")}</a>` : ""}
					<div>${esc(r.text)}</div>
					${r.status === "Failed" ? `<div class="text-danger small">${esc(r.last_error)}</div>` : ""}
				</div>`
			)
			.join("");
		frm.dashboard.add_section(
			`<div class="social-itsm-panel">${posts || `<p class="text-muted">${__("No posts yet.")}</p>`}
			${replies ? `<hr><div class="text-muted small mb-2">${__("Replies sent back")}</div>${replies}` : ""}</div>`,
			__("Social conversation")
		);
		frm.dashboard.show();
	}

	// Measuring like social_itsm_app/connectors/split.py, for the live counter under the reply box.
	const segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;
	const clusters = (text) => (segmenter ? Array.from(segmenter.segment(text), (s) => s.segment) : Array.from(text));
	const URL_RE = /https?:\/\/\S+/gi;
	const urls_as_23 = (inner) => (text) =>
		text.split(URL_RE).reduce((sum, part) => sum + inner(part), 0) + 23 * (text.match(URL_RE) || []).length;
	const graphemes = (text) => clusters(text).length;
	const PICTO = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;
	const light = (code) =>
		code <= 4351 || (code >= 8192 && code <= 8205) || (code >= 8208 && code <= 8223) || (code >= 8242 && code <= 8247);
	const x_weight = (text) =>
		clusters(text).reduce(
			(sum, c) => sum + (PICTO.test(c) ? 2 : Array.from(c).reduce((s, ch) => s + (light(ch.codePointAt(0)) ? 1 : 2), 0)),
			0
		);
	const MEASURES = {
		graphemes,
		graphemes_url23: urls_as_23(graphemes),
		utf16: (text) => text.length,
		chars: (text) => Array.from(text).length,
		x: (text) => urls_as_23(x_weight)(text.normalize("NFC")),
	};
	const TOKENS = /\S+\s*|\s+/g;
	const SENTENCE_END = /[.!?…。！？]['")\]]*\s*$|\n\s*$/;

	function break_at_sentence(chunk) {
		const words = chunk.match(TOKENS) || [];
		for (let cut = words.length - 1; cut > Math.floor(words.length / 2); cut--) {
			const head = words.slice(0, cut).join("");
			if (SENTENCE_END.test(head)) return [head.trim(), words.slice(cut).join("")];
		}
		return [chunk.trim(), ""];
	}

	function pack(text, budget, count) {
		if (budget < 8) return null;
		const tokens = [];
		for (const token of text.match(TOKENS) || []) {
			if (count(token.trimEnd()) <= budget) {
				tokens.push(token);
				continue;
			}
			let piece = "";
			for (const c of clusters(token)) {
				if (count(piece + c) > budget) {
					tokens.push(piece);
					piece = "";
				}
				piece += c;
			}
			tokens.push(piece);
		}
		const chunks = [];
		let current = "",
			size = 0;
		for (const token of tokens) {
			const core = count(token.trimEnd());
			if (size + core <= budget) {
				current += token;
				size += count(token);
				continue;
			}
			const [head, tail] = break_at_sentence(current);
			if (head) chunks.push(head);
			current = (tail + token).trimStart();
			size = count(current);
		}
		if (current.trim()) chunks.push(current.trim());
		return chunks.length;
	}

	// How many numbered "(i/n)" parts the app's splitter makes (an estimate: the network may add an @handle).
	function parts_for(text, limit, count) {
		text = text.trim();
		if (count(text) <= limit) return 1;
		for (let digits = 1; digits < 6; digits++) {
			const nines = "9".repeat(digits);
			const parts = pack(text, limit - count(` (${nines}/${nines})`), count);
			if (parts === null) return null;
			if (String(parts).length <= digits) return parts;
		}
		return null;
	}

	function counter_text(context, text, is_private) {
		const limit = is_private ? context.private_limit : context.public_limit;
		const count = MEASURES[context.measure] || graphemes;
		const used = count((text || "").trim());
		if (used <= limit) return { over: false, text: `${used} / ${limit}` };
		const parts = parts_for(text, limit, count);
		return {
			over: true,
			text: parts
				? __("{0} / {1} · will be sent as {2} numbered parts (estimate)", [used, limit, parts])
				: __("{0} / {1} · too long for this network", [used, limit]),
		};
	}

	function reply_dialog(frm, network) {
		let context = null;
		const dialog = new frappe.ui.Dialog({
			title: __("Reply on {0}", [network]),
			fields: [
				{ fieldname: "text", fieldtype: "Small Text", label: __("Reply"), reqd: 1 },
				{ fieldname: "counter", fieldtype: "HTML" },
				{
					fieldname: "private",
					fieldtype: "Check",
					label: __("Private message"),
					default: frm.doc.social_reply_mode === "Private" ? 1 : 0,
					description: __("Public replies appear in the thread; private ones go as a direct message."),
					onchange: () => update_counter(),
				},
			],
			primary_action_label: __("Send"),
			primary_action(values) {
				frappe.call({
					method: "social_itsm_app.api.reply_on_network",
					args: { ticket_doctype: frm.doctype, ticket: frm.doc.name, text: values.text, private: values.private },
					callback() {
						dialog.hide();
						frappe.show_alert({ message: __("Reply queued for {0}", [network]), indicator: "blue" });
						frm.reload_doc();
					},
				});
			},
		});
		const counter = document.createElement("div");
		counter.className = "small text-muted text-right social-itsm-counter";
		counter.setAttribute("aria-live", "polite");
		dialog.fields_dict.counter.$wrapper.empty().append(counter);

		function update_counter() {
			if (!context) return;
			const result = counter_text(context, dialog.get_value("text") || "", !!dialog.get_value("private"));
			counter.textContent = result.text; // never markup: the reply is the agent's text
			counter.classList.toggle("text-warning", result.over);
			counter.classList.toggle("text-muted", !result.over);
		}

		dialog.fields_dict.text.$input.on("input", () => update_counter());
		frappe.call({
			method: "social_itsm_app.api.reply_context",
			type: "GET",
			args: { ticket_doctype: frm.doctype, ticket: frm.doc.name },
			callback({ message }) {
				context = message;
				const check = dialog.fields_dict.private;
				if (context.private_only || context.private_limit === null) {
					dialog.set_value("private", context.private_only ? 1 : 0);
					check.df.read_only = 1;
					check.df.description = context.private_only
						? __("This conversation is a direct message: the answer always goes privately.")
						: __("{0} has no private replies: the answer is public.", [context.network]);
					check.refresh();
				} else {
					dialog.set_value("private", context.default_mode === "Private" ? 1 : 0);
				}
				update_counter();
			},
		});
		dialog.show();
	}

	function setup(frm) {
		if (!frm.doc.social_post || frm.is_new()) return;
		frappe.call({
			method: "social_itsm_app.api.ticket_social_panel",
			args: { ticket_doctype: frm.doctype, ticket: frm.doc.name },
			callback({ message }) {
				render(frm, message);
				const network = (message.posts[0] && message.posts[0].network) || __("the network");
				frm.add_custom_button(__("Reply on {0}", [network]), () => reply_dialog(frm, network));
			},
		});
		frappe.realtime.off("social_itsm_reply_update");
		frappe.realtime.on("social_itsm_reply_update", () => frm.reload_doc());
	}

	for (const doctype of ["HD Ticket", "Issue"]) {
		frappe.ui.form.on(doctype, { refresh: setup });
	}
})();
