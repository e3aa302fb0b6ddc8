// Electron main process: one agent for the app's lifetime, messages passed
// to the renderer over IPC. Not run by the tests (they have no Electron);
// Electron support is untested, see README "Supported runtimes".
//
// The addon is a Node-API module, so it loads only in the main process (or a
// utility process), never in a sandboxed renderer. Add `@x0x/node` to your
// packager's list of native modules left unpacked from the asar archive
// (electron-builder: `asarUnpack: ["node_modules/@x0x/node/**"]`).
import { app, BrowserWindow, ipcMain } from 'electron';
import * as path from 'node:path';

import { Agent } from '@x0x/node';

let agent;

app.whenReady().then(async () => {
  agent = await Agent.builder()
    // Keep the identity with the user's data, so it survives app updates.
    .withKeyFile(path.join(app.getPath('userData'), 'x0x.key'))
    .withBootstrapPeers(['203.0.113.7:9000']) // your bootstrap or coordinator node
    .build();
  await agent.joinNetwork({ signal: AbortSignal.timeout(30_000) });

  const win = new BrowserWindow({
    webPreferences: { preload: path.join(import.meta.dirname, 'preload.js') },
  });
  await win.loadFile('index.html');

  const sub = await agent.subscribe('app.news');
  (async () => {
    for await (const msg of sub) {
      win.webContents.send('x0x:message', { from: msg.from, text: new TextDecoder().decode(msg.payload) });
    }
  })();
  ipcMain.handle('x0x:publish', (_event, text) => agent.publish('app.news', String(text)));
});

// Close the agent before the app exits, so neighbours hear the goodbye.
let closing = false;
app.on('before-quit', (event) => {
  if (agent === undefined || closing) return;
  closing = true;
  event.preventDefault();
  agent.close().finally(() => app.quit());
});
