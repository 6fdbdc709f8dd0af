/** catalog: products, stock, stock movements, low-stock alerts, restock sign-ups. */
export { catalogErrors } from "./errors.ts";
export { inventoryBackInStock, inventoryLowStock } from "./events.ts";
export { createCatalogRouter } from "./router.ts";
export type { InsufficientItem, Product, StockLevel, StockLine } from "./schema.ts";
export type { CatalogDeps, CatalogService, SoldOutProduct } from "./service.ts";
export { createCatalogService, normalizeLines } from "./service.ts";
