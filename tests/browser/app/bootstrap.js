// Renders Foxglove Studio's `App` (from @foxglove/studio-base 1.48's prebuilt bundle, whose UMD
// wrapper put its exports on `window`) the way studio-web's Root does, with three test-sized
// pieces of our own:
//   - an in-memory layout storage holding the one layout the test serves at /layout.json, so the
//     URL's `layoutId=` selects it (nothing persists between runs: no IndexedDB state to go stale);
//   - an in-memory app configuration with telemetry, update checks and first-run prompts off;
//   - a single data source, FoxgloveWebSocketDataSourceFactory, picked by the URL's
//     `ds=foxglove-websocket&ds.url=ws://...`.
// Progress and failures are recorded on `window.__boot` so the test can say what went wrong.
"use strict";

(function () {
  const boot = (window.__boot = { stage: "script loaded", errors: [], rendered: false });
  const recordError = (what, err) => {
    boot.errors.push(`${what}: ${err && err.stack ? err.stack : String(err)}`);
  };
  window.addEventListener("error", (ev) => recordError("window error", ev.error ?? ev.message));
  window.addEventListener("unhandledrejection", (ev) => recordError("unhandled rejection", ev.reason));

  /** The local namespace LayoutManager uses when there is no remote storage. */
  const LOCAL_NAMESPACE = "local";

  /** ILayoutStorage over a Map: namespace → (id → Layout). */
  class MemoryLayoutStorage {
    constructor() {
      this.byNamespace = new Map();
    }
    ns(namespace) {
      let m = this.byNamespace.get(namespace);
      if (!m) {
        m = new Map();
        this.byNamespace.set(namespace, m);
      }
      return m;
    }
    async list(namespace) {
      return [...this.ns(namespace).values()];
    }
    async get(namespace, id) {
      return this.ns(namespace).get(id);
    }
    async put(namespace, layout) {
      this.ns(namespace).set(layout.id, layout);
      return layout;
    }
    async delete(namespace, id) {
      this.ns(namespace).delete(id);
    }
    async migrateUnnamespacedLayouts() {}
    async importLayouts({ fromNamespace, toNamespace }) {
      for (const layout of this.ns(fromNamespace).values()) this.ns(toNamespace).set(layout.id, layout);
    }
  }

  /** IAppConfiguration over a Map, with change listeners. */
  class MemoryAppConfiguration {
    constructor(values) {
      this.values = new Map(Object.entries(values));
      this.listeners = new Map();
    }
    get(key) {
      return this.values.get(key);
    }
    async set(key, value) {
      this.values.set(key, value);
      for (const cb of this.listeners.get(key) ?? []) cb(value);
    }
    addChangeListener(key, cb) {
      if (!this.listeners.has(key)) this.listeners.set(key, new Set());
      this.listeners.get(key).add(cb);
    }
    removeChangeListener(key, cb) {
      this.listeners.get(key)?.delete(cb);
    }
  }

  async function main() {
    const studio = window;
    for (const name of ["App", "FoxgloveWebSocketDataSourceFactory", "initI18n", "waitForFonts", "AppSetting"]) {
      if (studio[name] === undefined) throw new Error(`studio-base bundle did not export ${name}`);
    }
    const { App, AppSetting, FoxgloveWebSocketDataSourceFactory, initI18n, waitForFonts } = studio;

    boot.stage = "fetching layout";
    const res = await fetch("/layout.json");
    if (!res.ok) throw new Error(`GET /layout.json: HTTP ${res.status}`);
    const { id, name, data } = await res.json();

    const layoutStorage = new MemoryLayoutStorage();
    const now = new Date().toISOString();
    await layoutStorage.put(LOCAL_NAMESPACE, {
      id,
      name,
      permission: "CREATOR_WRITE",
      baseline: { data, savedAt: now },
      working: undefined,
      syncInfo: undefined,
    });

    const appConfiguration = new MemoryAppConfiguration({
      [AppSetting.COLOR_SCHEME]: "light",
      [AppSetting.TIMEZONE]: "UTC",
      [AppSetting.TELEMETRY_ENABLED]: false,
      [AppSetting.CRASH_REPORTING_ENABLED]: false,
      [AppSetting.UPDATES_ENABLED]: false,
      [AppSetting.HIDE_SIGN_IN_PROMPT]: true,
      [AppSetting.SHOW_OPEN_DIALOG_ON_STARTUP]: false,
      [AppSetting.SHOW_DEBUG_PANELS]: false,
    });

    boot.stage = "waiting for fonts";
    await waitForFonts();
    boot.stage = "initialising i18n";
    await initI18n();

    boot.stage = "rendering";
    const React = window.React;
    function Rendered(props) {
      // Like studio-web's LogAfterRender: mark the first commit of the whole tree.
      React.useEffect(() => {
        boot.rendered = true;
        boot.stage = "rendered";
      }, []);
      return props.children;
    }
    window.ReactDOM.render(
      React.createElement(
        Rendered,
        null,
        React.createElement(App, {
          deepLinks: [window.location.href],
          dataSources: [new FoxgloveWebSocketDataSourceFactory()],
          appConfiguration,
          layoutStorage,
          extensionLoaders: [],
          enableGlobalCss: true,
        }),
      ),
      document.getElementById("root"),
    );
  }

  main().catch((err) => {
    recordError(`bootstrap failed at "${boot.stage}"`, err);
    boot.stage = "failed";
  });
})();
