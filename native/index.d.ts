// Types of native/index.cjs: the loader exports the addon object unchanged.
export * from './binding';
