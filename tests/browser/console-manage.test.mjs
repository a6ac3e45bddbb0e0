// The console's message and chat management in a real browser against the real server:
// editing and deleting own messages (the other participant sees the markers live), replies
// and @mentions, an image attachment previewed for the other member, a group chat created
// through the people picker (the tenant directory), members added and removed, a rename,
// drafts per chat across a reload, soft delete and restore by an admin, leaving, the
// composer's validation, and a send that fails (the server hangs and dies) and succeeds on
// retry. Every step is checked against what the API returns, and no step may open one of
// the browser's native dialogs (confirm/alert): the app asks in its own dialog.
import test from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { heraldFor, serverFor, browserFor, newPage, assertNoProblems, screenshot, makeTenant, okv2, errv2, WEB_DIST, PHONE } from './lib/harness.mjs';

/** A tenant with Anna (tenant admin, dispatcher), Piotr, Maria and Lukas. */
async function people(srv) {
	const a = makeTenant(srv);
	await a.user('anna', 'Anna Schmidt', ['staff', 'dispatcher', 'admin']);
	await a.user('piotr', 'Piotr Nowak', ['staff']);
	await a.user('maria', 'Maria Rossi', ['staff']);
	await a.user('lukas', 'Lukas Weber', ['staff']);
	const tokens = {};
	for (const id of ['anna', 'piotr', 'maria', 'lukas']) tokens[id] = await a.session(id);
	return { a, tokens };
}

/** A page signed in with a user token (the host-minted link), native dialogs reported. */
async function signedIn(browser, srv, token, opts = {}) {
	const page = await newPage(browser, opts);
	page.on('dialog', (d) => {
		page.problems.push(`a native ${d.type()} dialog opened: ${d.message()}`);
		d.dismiss().catch(() => {});
	});
	await page.goto(`${srv.url}/#/login?token=${encodeURIComponent(token)}`);
	await page.locator('[data-test=chat-search]').waitFor();
	return page;
}

async function openChat(page, id, title) {
	await page.locator(`[data-test=chat-${id}]`).click();
	await page.locator('[data-test=chat-header-title]', { hasText: title }).waitFor();
	await page.locator('[data-test=messages]').waitFor();
}

/** Sends text through the composer and waits until the server confirmed it (✓). */
async function say(page, text) {
	await page.locator('[data-test=composer]').fill(text);
	await page.keyboard.press('Enter');
	const bubble = page.locator('[data-test=message][data-status=sent]', { has: page.locator('[data-test=text]', { hasText: text }) });
	await bubble.waitFor();
	return bubble;
}

/** The chat's messages as the server has them, oldest first. */
async function history(a, chat) {
	const r = okv2(await a.call('GET', `/api/v2/chats/${chat}/messages?limit=100`), 'history');
	return r.items.slice().reverse();
}

async function memberIds(a, chat) {
	const r = okv2(await a.call('GET', `/api/v2/chats/${chat}/members`), 'members');
	return r.items.map((m) => m.id).sort();
}

/** The hover toolbar of a message: hover it, then press the named button. */
async function messageAction(page, bubble, name) {
	await bubble.hover();
	await bubble.getByRole('button', { name, exact: true }).click();
}

/** The in-app confirmation dialog with this title. */
const confirmDialog = (page, title) => page.getByRole('alertdialog', { name: title });

// A real PNG, drawn here: w×h, top half orange, bottom half blue (RGBA, no filter).
function makePng(w, h) {
	const crcTable = Array.from({ length: 256 }, (_, n) => {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		return c >>> 0;
	});
	const crc32 = (buf) => {
		let c = 0xffffffff;
		for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
		return (c ^ 0xffffffff) >>> 0;
	};
	const chunk = (type, data) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
		const crc = Buffer.alloc(4);
		crc.writeUInt32BE(crc32(td));
		return Buffer.concat([len, td, crc]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr[8] = 8; // bit depth
	ihdr[9] = 6; // RGBA
	const raw = Buffer.alloc((w * 4 + 1) * h);
	for (let y = 0; y < h; y++) {
		const row = y * (w * 4 + 1);
		raw[row] = 0; // filter: none
		const [r, g, b] = y < h / 2 ? [255, 136, 0] : [0, 102, 255];
		for (let x = 0; x < w; x++) raw.set([r, g, b, 255], row + 1 + x * 4);
	}
	return Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk('IHDR', ihdr),
		chunk('IDAT', zlib.deflateSync(raw)),
		chunk('IEND', Buffer.alloc(0)),
	]);
}

test('console-manage: editing and deleting own messages — the other participant sees "edited" and "deleted" live', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	const shift = await a.group('Shift 4711', ['anna', 'piotr']);
	await a.post(shift.id, 'Shift starts at 22:00.', { sender: 'piotr' });
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna);
	const piotr = await signedIn(browser, srv, tokens.piotr);
	await openChat(anna, shift.id, 'Shift 4711');
	await openChat(piotr, shift.id, 'Shift 4711');

	const mine = await say(anna, 'Truck 17 at gate 2');
	await piotr.locator('[data-test=message] [data-test=text]', { hasText: 'Truck 17 at gate 2' }).waitFor();

	// Piotr may not edit or delete Anna's message: no such buttons on it.
	const hers = piotr.locator('[data-test=message]', { hasText: 'Truck 17 at gate 2' });
	await hers.hover();
	await hers.getByRole('button', { name: 'Reply', exact: true }).waitFor();
	assert.equal(await hers.getByRole('button', { name: 'Edit', exact: true }).count(), 0, 'no Edit on someone else’s message');
	assert.equal(await hers.getByRole('button', { name: 'Delete', exact: true }).count(), 0, 'no Delete on someone else’s message');

	// Anna edits: the composer switches to edit mode with the old text; Enter saves.
	await messageAction(anna, mine, 'Edit');
	await anna.getByText('Edit message').waitFor();
	assert.equal(await anna.locator('[data-test=composer]').inputValue(), 'Truck 17 at gate 2');
	await anna.locator('[data-test=composer]').fill('Truck 17 at gate 3');
	await anna.keyboard.press('Enter');
	const edited = anna.locator('[data-test=message]', { has: anna.locator('[data-test=text]', { hasText: 'Truck 17 at gate 3' }) });
	await edited.locator('[data-test=edited]').waitFor();
	assert.equal(await anna.locator('[data-test=composer]').inputValue(), '', 'the composer is empty again after the edit');
	assert.equal(await anna.getByText('Edit message').count(), 0, 'edit mode ended');

	// Piotr sees the new text with the marker, live; the old text is gone.
	const piotrEdited = piotr.locator('[data-test=message]', { has: piotr.locator('[data-test=text]', { hasText: 'Truck 17 at gate 3' }) });
	await piotrEdited.locator('[data-test=edited]').waitFor();
	assert.equal(await piotr.locator('[data-test=text]', { hasText: 'gate 2' }).count(), 0);

	let hist = await history(a, shift.id);
	const editedMsg = hist.find((m) => m.sender === 'anna' && m.kind === 'text');
	assert.equal(editedMsg.text, 'Truck 17 at gate 3');
	assert.ok(editedMsg.edited_at, 'the server marks the message edited');
	assert.equal(hist.filter((m) => m.sender === 'anna').length, 1, 'an edit is not a new message');

	// Anna deletes a message: the app asks in its own dialog, focus on Cancel; Escape cancels
	// and gives the focus back to the Delete button.
	const wrong = await say(anna, 'Wrong chat, sorry');
	await messageAction(anna, wrong, 'Delete');
	const ask = confirmDialog(anna, 'Delete message');
	await ask.getByText('Delete this message for everyone?').waitFor();
	assert.equal(await anna.evaluate(() => document.activeElement.textContent.trim()), 'Cancel', 'the harmless choice has the focus');
	// Tab stays inside the dialog
	await anna.keyboard.press('Tab');
	await anna.keyboard.press('Tab');
	assert.ok(await anna.evaluate(() => !!document.activeElement.closest('[role=alertdialog]')), 'focus is trapped in the dialog');
	await anna.keyboard.press('Escape');
	await ask.waitFor({ state: 'detached' });
	assert.equal(await anna.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Delete', 'focus went back to the Delete button');
	assert.equal((await history(a, shift.id)).find((m) => m.text === 'Wrong chat, sorry').deleted, false, 'cancelled: nothing deleted');

	await messageAction(anna, wrong, 'Delete');
	const deletedSeq = Number(await wrong.getAttribute('data-seq'));
	await ask.getByRole('button', { name: 'Delete' }).click();
	await ask.waitFor({ state: 'detached' });
	await anna.locator(`[data-test=message][data-seq="${deletedSeq}"] [data-test=deleted]`).waitFor();
	// Piotr: the bubble turns into "Message deleted" live, the text is gone.
	await piotr.locator(`[data-test=message][data-seq="${deletedSeq}"] [data-test=deleted]`, { hasText: 'Message deleted' }).waitFor();
	assert.equal(await piotr.locator('[data-test=text]', { hasText: 'Wrong chat, sorry' }).count(), 0);

	hist = await history(a, shift.id);
	const gone = hist.find((m) => m.seq === deletedSeq);
	assert.equal(gone.deleted, true);
	assert.equal(gone.text, '', 'the server keeps no text of a deleted message');

	assertNoProblems(anna);
	assertNoProblems(piotr);
});

test('console-manage: a reply quotes its message, @mentions of members are highlighted', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	const shift = await a.group('Shift 4711', ['anna', 'piotr', 'maria']);
	const q = await a.post(shift.id, 'Can someone check pallet 9?', { sender: 'anna' });
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna);
	const piotr = await signedIn(browser, srv, tokens.piotr);
	await openChat(anna, shift.id, 'Shift 4711');
	await openChat(piotr, shift.id, 'Shift 4711');

	// Piotr replies to Anna's question and mentions Anna and Maria (members) and Lukas
	// (not a member of this chat: no mention).
	const question = piotr.locator(`[data-test=message][data-seq="${q.seq}"]`);
	await messageAction(piotr, question, 'Reply');
	await piotr.getByText('Reply to Anna Schmidt').waitFor();
	assert.ok(await piotr.evaluate(() => document.activeElement.dataset.test === 'composer'), 'the composer has the focus for the reply');
	await piotr.keyboard.type('@anna done, @maria please sign. @lukas FYI');
	await piotr.keyboard.press('Enter');
	const reply = piotr.locator('[data-test=message][data-status=sent]', { hasText: 'please sign' });
	await reply.waitFor();
	assert.equal(await piotr.getByText('Reply to Anna Schmidt').count(), 0, 'reply mode ended after sending');

	// The server stored the reply and the two mentions of members.
	const hist = await history(a, shift.id);
	const stored = hist.find((m) => m.sender === 'piotr');
	assert.equal(stored.reply_to, q.seq);
	assert.deepEqual(stored.mentions.slice().sort(), ['anna', 'maria']);

	// Anna: the reply shows the quoted message, her own mention stands out, Maria's is
	// highlighted too, Lukas's is plain text.
	const got = anna.locator(`[data-test=message][data-seq="${stored.seq}"]`);
	await got.waitFor();
	const quote = got.locator('button', { hasText: 'Can someone check pallet 9?' });
	await quote.getByText('Anna Schmidt').waitFor();
	const marks = await got.locator('[data-test=mention]').evaluateAll((els) => els.map((e) => [e.textContent, e.dataset.me === 'true']));
	assert.deepEqual(marks, [
		['@anna', true],
		['@maria', false],
	]);
	assert.match(await got.locator('[data-test=text]').innerText(), /@lukas FYI$/);
	// the own mention has its own colour, distinct from the other one
	const colours = await got.locator('[data-test=mention]').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
	assert.notEqual(colours[0], colours[1], 'a mention of me looks different from a mention of someone else');
	assert.ok(colours.every((c) => c !== 'rgba(0, 0, 0, 0)'), 'mentions have a background');

	// Clicking the quote brings the quoted message into view.
	await anna.locator('[data-test=messages]').evaluate((el) => (el.scrollTop = el.scrollHeight));
	await quote.click();
	await anna.locator(`[data-test=message][data-seq="${q.seq}"]`).waitFor();
	assert.ok(await anna.locator(`[data-seq="${q.seq}"]`).isVisible());

	assertNoProblems(anna);
	assertNoProblems(piotr);
});

test('console-manage: an image attachment is uploaded and previewed for the other member', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	const yard = await a.group('Yard', ['anna', 'piotr']);
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna);
	const piotr = await signedIn(browser, srv, tokens.piotr);
	await openChat(anna, yard.id, 'Yard');
	await openChat(piotr, yard.id, 'Yard');

	const png = makePng(48, 32);
	await anna.locator('input[type=file]').setInputFiles({ name: 'ramp.png', mimeType: 'image/png', buffer: png });
	// the file is listed above the composer once uploaded (no "…" any more)
	const chip = anna.locator('li', { hasText: 'ramp.png' });
	await chip.waitFor();
	await anna.waitForFunction(() => ![...document.querySelectorAll('li')].some((li) => li.textContent.includes('ramp.png') && li.textContent.includes('…')));
	await anna.locator('[data-test=composer]').fill('Photo of the ramp');
	await anna.keyboard.press('Enter');
	await anna.locator('[data-test=message][data-status=sent]', { hasText: 'Photo of the ramp' }).waitFor();
	await chip.waitFor({ state: 'detached' });

	// The server has the message with the file, sniffed as a 48×32 PNG.
	const hist = await history(a, yard.id);
	const msg = hist.find((m) => m.text === 'Photo of the ramp');
	assert.equal(msg.attachments.length, 1);
	const [att] = msg.attachments;
	assert.equal(att.name, 'ramp.png');
	assert.equal(att.mime, 'image/png');
	assert.equal(att.size, png.length);
	assert.equal(att.width, 48);
	assert.equal(att.height, 32);
	// …and gives Piotr the same bytes.
	const res = await fetch(`${srv.url}${att.url}`, { headers: { Authorization: `Bearer ${tokens.piotr}` } });
	assert.equal(res.status, 200);
	assert.ok(Buffer.from(await res.arrayBuffer()).equals(png), 'the stored file is the uploaded one');

	// Piotr sees the preview: the real picture (orange above, blue below), from a blob: URL.
	const img = piotr.locator(`[data-test=message][data-seq="${msg.seq}"] img`);
	await img.waitFor();
	await piotr.waitForFunction((seq) => {
		const i = document.querySelector(`[data-seq="${seq}"] img`);
		return i && i.complete && i.naturalWidth === 48 && i.naturalHeight === 32;
	}, msg.seq);
	assert.match(await img.getAttribute('src'), /^blob:/);
	assert.equal(await img.getAttribute('alt'), 'ramp.png');
	const pixels = await img.evaluate((i) => {
		const c = document.createElement('canvas');
		c.width = i.naturalWidth;
		c.height = i.naturalHeight;
		const g = c.getContext('2d');
		g.drawImage(i, 0, 0);
		return [Array.from(g.getImageData(10, 4, 1, 1).data), Array.from(g.getImageData(10, 28, 1, 1).data)];
	});
	assert.deepEqual(pixels, [
		[255, 136, 0, 255],
		[0, 102, 255, 255],
	]);
	const box = await img.boundingBox();
	assert.ok(box && box.width > 0 && box.height > 0, 'the preview is visible');

	assertNoProblems(anna);
	assertNoProblems(piotr);
});

test('console-manage: a group chat made with the people picker (directory); members added and removed; renamed', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	// Anna shares no chat with anyone: the picker knows people only from the directory.
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna);
	const piotr = await signedIn(browser, srv, tokens.piotr);

	await anna.locator('[data-test=new-chat]').click();
	const dialog = anna.getByRole('dialog', { name: 'New chat' });
	await dialog.waitFor();
	await anna.locator('[data-test=newchat-group]').click();
	// Without a name the server is not even asked.
	await anna.locator('[data-test=newchat-submit]').click();
	await dialog.getByRole('alert').getByText('Give the chat a name.').waitFor();
	await anna.locator('[data-test=newchat-title]').fill('Yard team');
	// every active colleague is offered, the signed-in user is not
	for (const id of ['piotr', 'maria', 'lukas']) await anna.locator(`[data-test=person-${id}]`).waitFor();
	assert.equal(await anna.locator('[data-test=person-anna]').count(), 0);
	const dir = okv2(await a.call('GET', '/api/v2/directory', { token: tokens.anna }), 'directory');
	assert.deepEqual(dir.items.map((p) => p.id).filter((id) => id !== 'anna').sort(), ['lukas', 'maria', 'piotr']);
	// search narrows the list
	await anna.locator('[data-test=people-search]').fill('ros');
	await anna.locator('[data-test=person-piotr]').waitFor({ state: 'detached' });
	await anna.locator('[data-test=person-maria]').click();
	await anna.locator('[data-test=people-search]').fill('');
	await anna.locator('[data-test=person-piotr]').click();
	assert.equal(await anna.locator('[data-test=person-maria]').getAttribute('aria-pressed'), 'true');
	await anna.locator('[data-test=newchat-submit]').click();
	await anna.locator('[data-test=chat-header-title]', { hasText: 'Yard team' }).waitFor();
	const chatId = Number(/#\/chats\/(\d+)/.exec(anna.url())[1]);

	// The server: Anna owns it, Maria and Piotr are members.
	const members = okv2(await a.call('GET', `/api/v2/chats/${chatId}/members`), 'members').items;
	assert.deepEqual(members.map((m) => [m.id, m.role]).sort(), [
		['anna', 'owner'],
		['maria', 'member'],
		['piotr', 'member'],
	]);
	// Piotr gets the new chat in his list live.
	await piotr.locator(`[data-test=chat-${chatId}]`, { hasText: 'Yard team' }).waitFor();

	// Add Lukas through the details' picker, which leaves out who is already in.
	await anna.locator('[data-test=chat-info]').click();
	const panel = anna.locator('[data-test=chat-info-panel]');
	await panel.locator('[data-test=members] li', { hasText: 'Maria Rossi' }).waitFor();
	await panel.locator('[data-test=add-members]').click();
	const add = anna.getByRole('dialog', { name: 'Add people' });
	await add.locator('[data-test=person-lukas]').click();
	assert.equal(await add.locator('[data-test=person-piotr]').count(), 0, 'members are not offered again');
	assert.equal(await add.locator('[data-test=person-maria]').count(), 0);
	await add.getByRole('button', { name: 'Add 1 person' }).click();
	await add.waitFor({ state: 'detached' });
	await panel.locator('[data-test=members] li', { hasText: 'Lukas Weber' }).waitFor();
	assert.deepEqual(await memberIds(a, chatId), ['anna', 'lukas', 'maria', 'piotr']);
	await piotr.locator(`[data-test=chat-${chatId}]`).click();
	await piotr.locator('[data-test=system-message]', { hasText: 'Lukas Weber joined the chat' }).waitFor();

	// Remove Maria, after the app's confirmation.
	await panel.getByRole('button', { name: 'Remove Maria Rossi' }).click();
	const ask = confirmDialog(anna, 'Remove member');
	await ask.getByText('Remove Maria Rossi from this chat?').waitFor();
	await ask.getByRole('button', { name: 'Remove' }).click();
	await ask.waitFor({ state: 'detached' });
	await panel.locator('[data-test=members] li', { hasText: 'Maria Rossi' }).waitFor({ state: 'detached' });
	assert.deepEqual(await memberIds(a, chatId), ['anna', 'lukas', 'piotr']);
	await piotr.locator('[data-test=system-message]', { hasText: 'Maria Rossi was removed from the chat' }).waitFor();
	const mariaList = okv2(await a.call('GET', '/api/v2/chats', { token: tokens.maria }), 'maria chats');
	assert.ok(!mariaList.items.some((c) => c.id === chatId), 'Maria no longer sees the chat');

	// Rename: the header and Piotr's screen follow live.
	await panel.locator('[data-test=edit-chat]').click();
	await panel.locator('[data-test=chat-title-input]').fill('Yard team North');
	await panel.locator('#ci-desc').fill('Ramps 1–6');
	await panel.locator('[data-test=chat-save]').click();
	await anna.locator('[data-test=chat-header-title]', { hasText: 'Yard team North' }).waitFor();
	await panel.getByText('Ramps 1–6').waitFor();
	await piotr.locator('[data-test=chat-header-title]', { hasText: 'Yard team North' }).waitFor();
	await piotr.locator(`[data-test=chat-${chatId}][data-chat-title="Yard team North"]`).waitFor();
	const chat = okv2(await a.call('GET', `/api/v2/chats/${chatId}`), 'chat');
	assert.equal(chat.title, 'Yard team North');
	assert.equal(chat.description, 'Ramps 1–6');

	assertNoProblems(anna);
	assertNoProblems(piotr);
});

test('console-manage: drafts are kept per chat, across chat switches and a reload', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	const shift = await a.group('Shift 4711', ['anna', 'piotr']);
	const yard = await a.group('Yard', ['anna', 'piotr']);
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna);
	const composer = anna.locator('[data-test=composer]');

	await openChat(anna, shift.id, 'Shift 4711');
	await composer.pressSequentially('Draft for the shift');
	await openChat(anna, yard.id, 'Yard');
	assert.equal(await composer.inputValue(), '', 'another chat has its own (empty) draft');
	await composer.pressSequentially('Draft for the yard');
	await openChat(anna, shift.id, 'Shift 4711');
	assert.equal(await composer.inputValue(), 'Draft for the shift');

	await anna.reload();
	await anna.locator('[data-test=chat-header-title]', { hasText: 'Shift 4711' }).waitFor();
	await anna.waitForFunction(() => document.querySelector('[data-test=composer]').value === 'Draft for the shift');
	await openChat(anna, yard.id, 'Yard');
	assert.equal(await composer.inputValue(), 'Draft for the yard');

	// Sending uses the draft up; the other chat's draft stays, also after another reload.
	await composer.focus();
	await anna.keyboard.press('Enter');
	await anna.locator('[data-test=message][data-status=sent]', { hasText: 'Draft for the yard' }).waitFor();
	await anna.reload();
	await anna.locator('[data-test=chat-header-title]', { hasText: 'Yard' }).waitFor();
	await anna.locator('[data-test=message]', { hasText: 'Draft for the yard' }).waitFor();
	assert.equal(await composer.inputValue(), '', 'the sent draft is gone');
	await openChat(anna, shift.id, 'Shift 4711');
	assert.equal(await composer.inputValue(), 'Draft for the shift');

	// Only what was sent reached the server.
	assert.deepEqual((await history(a, yard.id)).filter((m) => m.kind === 'text').map((m) => m.text), ['Draft for the yard']);
	assert.deepEqual((await history(a, shift.id)).filter((m) => m.kind === 'text'), []);
	assertNoProblems(anna);
});

test('console-manage: an admin deletes a chat (soft) and restores it; a member leaves a chat', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	const shift = await a.group('Shift 4711', [{ user: 'anna', role: 'owner' }, 'piotr', 'maria']);
	await a.post(shift.id, 'Gate 3 closes at 22:00.', { sender: 'anna' });
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna);
	const piotr = await signedIn(browser, srv, tokens.piotr);
	await openChat(anna, shift.id, 'Shift 4711');
	await openChat(piotr, shift.id, 'Shift 4711');

	// Anna deletes it from the details, after the app's confirmation.
	await anna.locator('[data-test=chat-info]').click();
	await anna.locator('[data-test=delete-chat]').click();
	const ask = confirmDialog(anna, 'Delete chat');
	await ask.getByText('Delete this chat for everyone? It can be restored later.').waitFor();
	await screenshot(anna, 'console-confirm-delete-chat');
	await ask.getByRole('button', { name: 'Delete' }).click();
	await ask.waitFor({ state: 'detached' });
	await anna.locator('[data-test=chat-deleted]').waitFor();
	assert.equal(okv2(await a.call('GET', `/api/v2/chats/${shift.id}`), 'chat').deleted, true);

	// Piotr, live: the banner, a closed composer, the chat gone from his list, the history kept.
	await piotr.locator('[data-test=chat-deleted]', { hasText: 'This chat was deleted.' }).waitFor();
	await piotr.locator('[data-test=composer-disabled]').waitFor();
	await piotr.locator(`[data-test=chat-${shift.id}]`).waitFor({ state: 'detached' });
	await piotr.locator('[data-test=message]', { hasText: 'Gate 3 closes at 22:00.' }).waitFor();
	assert.equal(await piotr.locator('[data-test=restore]').count(), 0, 'a member is not offered the restore');
	errv2(await a.call('POST', `/api/v2/chats/${shift.id}/messages`, { token: tokens.piotr, body: { text: 'still here?' } }), 409, 'conflict', 'posting into a deleted chat');

	// Anna restores it from the banner; both screens open up again.
	await anna.locator('[data-test=restore]').click();
	await anna.locator('[data-test=chat-deleted]').waitFor({ state: 'detached' });
	await piotr.locator('[data-test=chat-deleted]').waitFor({ state: 'detached' });
	await piotr.locator(`[data-test=chat-${shift.id}]`).waitFor();
	assert.equal(okv2(await a.call('GET', `/api/v2/chats/${shift.id}`), 'chat').deleted, false);
	await say(piotr, 'Back again');
	await anna.locator('[data-test=message]', { hasText: 'Back again' }).waitFor();

	// Piotr leaves: asked first (Escape keeps him in), then out of the chat and its list.
	await piotr.locator('[data-test=chat-info]').click();
	await piotr.locator('[data-test=leave]').click();
	const leave = confirmDialog(piotr, 'Leave chat');
	await leave.getByText('Leave this chat? You will no longer see its messages.').waitFor();
	await piotr.keyboard.press('Escape');
	await leave.waitFor({ state: 'detached' });
	assert.deepEqual(await memberIds(a, shift.id), ['anna', 'maria', 'piotr']);
	await piotr.locator('[data-test=leave]').click();
	await leave.getByRole('button', { name: 'Leave chat' }).click();
	await piotr.waitForURL(/#\/chats$/);
	await piotr.locator(`[data-test=chat-${shift.id}]`).waitFor({ state: 'detached' });
	assert.deepEqual(await memberIds(a, shift.id), ['anna', 'maria']);
	await anna.locator('[data-test=system-message]', { hasText: 'Piotr Nowak left the chat' }).waitFor();
	const piotrChats = okv2(await a.call('GET', '/api/v2/chats', { token: tokens.piotr }), 'piotr chats');
	assert.ok(!piotrChats.items.some((c) => c.id === shift.id));

	assertNoProblems(anna);
	assertNoProblems(piotr);
});

test('console-manage: the composer refuses an empty and a too long message, with a counter', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	const shift = await a.group('Shift 4711', ['anna', 'piotr']);
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna);
	await openChat(anna, shift.id, 'Shift 4711');
	const composer = anna.locator('[data-test=composer]');
	const error = anna.locator('[data-test=composer-error]');
	const counter = anna.locator('[data-test=counter]');

	// Empty, and only blanks: refused with a reason, nothing sent.
	await composer.focus();
	await anna.keyboard.press('Enter');
	await error.getByText('Write something first.').waitFor();
	await composer.fill('   \n  ');
	await anna.locator('[data-test=send]').click();
	await error.getByText('Write something first.').waitFor();

	// No counter for short texts; near the limit it appears, over it it turns into an error.
	await composer.fill('x'.repeat(100));
	assert.equal(await counter.count(), 0);
	await composer.fill('x'.repeat(3300));
	await counter.getByText('3300 / 4000').waitFor();
	assert.equal(await composer.getAttribute('aria-invalid'), 'false');
	await composer.fill('x'.repeat(4001));
	await counter.getByText('4001 / 4000').waitFor();
	assert.equal(await composer.getAttribute('aria-invalid'), 'true');
	await anna.keyboard.press('Enter');
	await error.getByText('Too long: at most 4000 characters.').waitFor();
	assert.equal(await composer.inputValue(), 'x'.repeat(4001), 'the text stays for shortening');
	assert.deepEqual((await history(a, shift.id)).filter((m) => m.kind === 'text'), [], 'nothing reached the server');

	// Characters, not bytes or UTF-16 units, are counted, as the server does: 4000 emoji fit.
	const emoji = '🚚'.repeat(4000);
	await composer.fill(emoji);
	await counter.getByText('4000 / 4000').waitFor();
	await anna.keyboard.press('Enter');
	await anna.locator('[data-test=message][data-status=sent]').waitFor();
	assert.equal(await error.count(), 0);
	const [stored] = (await history(a, shift.id)).filter((m) => m.kind === 'text');
	assert.equal(stored.text, emoji);
	assertNoProblems(anna);
});

test('console-manage: a send the server never answers fails with a retry button; retry after the restart sends it once', async (t) => {
	const first = await heraldFor(t);
	const { a, tokens } = await people(first);
	const shift = await a.group('Shift 4711', ['anna', 'piotr']);
	const browser = await browserFor(t);
	// The page's clock is controlled, so the request timeout (20 s) passes without waiting
	// and before the connection's heartbeat could notice the hang.
	const anna = await newPage(browser);
	anna.on('dialog', (d) => anna.problems.push(`a native ${d.type()} dialog opened`));
	await anna.clock.install();
	await anna.goto(`${first.url}/#/login?token=${encodeURIComponent(tokens.anna)}`);
	await anna.locator('[data-test=chat-search]').waitFor();
	await openChat(anna, shift.id, 'Shift 4711');
	// Time stands still from here on (the heartbeat was armed at sign-in, moments ago); a
	// send needs no timer to go through.
	await anna.clock.pauseAt(Date.now() + 1000);
	await say(anna, 'Before the hang');

	// The server hangs (stopped, its socket still open): the message waits, then fails.
	process.kill(first.proc.pid, 'SIGSTOP');
	t.after(() => {
		try {
			process.kill(first.proc.pid, 'SIGCONT');
		} catch {
			/* gone already */
		}
	});
	await anna.locator('[data-test=composer]').fill('Sent into the void');
	await anna.keyboard.press('Enter');
	const bubble = anna.locator('[data-test=message]', { hasText: 'Sent into the void' });
	await bubble.and(anna.locator('[data-status=pending]')).waitFor();
	await anna.clock.runFor(21000);
	await bubble.and(anna.locator('[data-status=failed]')).waitFor();
	await bubble.getByText('The server did not answer.').waitFor();
	const retry = bubble.getByRole('button', { name: 'Retry' });
	await retry.waitFor();

	// It dies and comes back on the same port and data: the page reconnects by itself; the
	// failed message stays failed (it is not sent behind the user's back).
	await anna.clock.resume();
	await first.kill9();
	await anna.locator('[data-test=offline-banner]').waitFor();
	const srv = await serverFor(t, { dataDir: first.dataDir, args: ['--listen', `127.0.0.1:${first.port}`], env: { HERALD_HTTP_WEB_ROOT: WEB_DIST } });
	await anna.locator('[data-test=offline-banner]').waitFor({ state: 'detached', timeout: 60000 });
	assert.equal(await bubble.getAttribute('data-status'), 'failed');
	// (the restarted server listens where the first one did, so the tenant client still fits)
	assert.equal(srv.url, first.url);
	const texts = async () => (await history(a, shift.id)).filter((m) => m.kind === 'text').map((m) => m.text);
	assert.deepEqual(await texts(), ['Before the hang'], 'the server never got the failed message');

	// Retry: sent, once.
	await retry.click();
	await anna.locator('[data-test=message][data-status=sent]', { hasText: 'Sent into the void' }).waitFor();
	await bubble.getByText('The server did not answer.').waitFor({ state: 'detached' });
	assert.deepEqual(await texts(), ['Before the hang', 'Sent into the void']);
	assert.equal(await anna.locator('[data-test=message]', { hasText: 'Sent into the void' }).count(), 1, 'shown once');

	assertNoProblems(anna, [/WebSocket/i, /ERR_CONNECTION_REFUSED/, /Failed to load resource/]);
});

test('console-manage: on a phone the chat header keeps its title readable; pin, mute and details are in the "more" menu', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens } = await people(srv);
	const chat = await a.group('Shift 4711 — Berlin Nord, night shift', ['anna', 'piotr', 'maria']);
	await a.post(chat.id, 'Gate 3 closes at 22:00.', { sender: 'piotr' });
	const browser = await browserFor(t);
	const anna = await signedIn(browser, srv, tokens.anna, { viewport: PHONE, mobile: true });
	await anna.goto(`${srv.url}/#/chats/${chat.id}`);
	const title = anna.locator('[data-test=chat-header-title]');
	await title.waitFor();
	await anna.locator('[data-test=message]', { hasText: 'Gate 3 closes' }).waitFor();

	// The desktop buttons are hidden; one "more" button is left, and the title is wide.
	for (const b of ['pin', 'mute', 'chat-info']) assert.equal(await anna.locator(`[data-test=${b}]`).isVisible(), false, `${b} hidden on a phone`);
	const more = anna.getByRole('button', { name: 'More actions' });
	await more.waitFor();
	const width = (await title.boundingBox()).width;
	assert.ok(width >= 200, `the title has ${width}px of a 390px screen`);
	await screenshot(anna, 'console-chat-phone-header', { sizes: [PHONE] });

	// Keyboard: Enter opens the menu on its first item, arrows move, Escape closes and
	// returns the focus.
	await more.focus();
	await anna.keyboard.press('Enter');
	const menu = anna.getByRole('menu', { name: 'More actions' });
	await menu.waitFor();
	assert.equal(await more.getAttribute('aria-expanded'), 'true');
	await screenshot(anna, 'console-chat-phone-menu', { sizes: [PHONE] });
	assert.equal(await anna.evaluate(() => document.activeElement.textContent.trim()), 'Pinned');
	await anna.keyboard.press('ArrowDown');
	assert.equal(await anna.evaluate(() => document.activeElement.textContent.trim()), 'Muted');
	await anna.keyboard.press('Escape');
	await menu.waitFor({ state: 'detached' });
	assert.equal(await anna.evaluate(() => document.activeElement.getAttribute('aria-label')), 'More actions');

	// Pin from the menu: the server agrees, the item shows it checked.
	await more.click();
	await menu.getByRole('menuitemcheckbox', { name: 'Pinned' }).click();
	await menu.waitFor({ state: 'detached' });
	await anna.waitForFunction(
		async ({ url, token, id }) => {
			const r = await fetch(`${url}/api/v2/chats/${id}`, { headers: { Authorization: `Bearer ${token}` } });
			return (await r.json()).pinned === true;
		},
		{ url: srv.url, token: tokens.anna, id: chat.id },
	);
	await more.click();
	assert.equal(await menu.getByRole('menuitemcheckbox', { name: 'Pinned' }).getAttribute('aria-checked'), 'true');
	// The details from the menu.
	await menu.getByRole('menuitem', { name: 'Chat details' }).click();
	await anna.locator('[data-test=chat-info-panel] [data-test=members] li', { hasText: 'Maria Rossi' }).waitFor();

	// On a desktop the three buttons are back and the menu is not there.
	await anna.setViewportSize({ width: 1280, height: 800 });
	await anna.locator('[data-test=pin]').waitFor();
	assert.equal(await more.isVisible(), false);
	assertNoProblems(anna);
});
