import { z } from "zod";
import { cursorSchema, idSchema, multilineText, pageLimitSchema, singleLineText, wonSchema } from "../kernel/schemas.ts";

export const productStatusSchema = z.enum(["active", "hidden"]);
const categorySchema = singleLineText().trim().min(1).max(50);
const priceSchema = wonSchema.max(100_000_000);
const stockQuantitySchema = z.number().int().min(0).max(1_000_000);

export const productSortSchema = z.enum(["newest", "price_asc", "price_desc"]);
export type ProductSort = z.infer<typeof productSortSchema>;

const browseFilters = {
  category: categorySchema.optional(),
  minPrice: priceSchema.optional(),
  maxPrice: priceSchema.optional(),
  sort: productSortSchema.default("newest"),
  cursor: cursorSchema,
  limit: pageLimitSchema,
};

/** A price range that ends before it starts can match nothing: say so instead. */
function checkPriceRange(v: { minPrice?: number; maxPrice?: number }, ctx: z.RefinementCtx): void {
  if (v.minPrice !== undefined && v.maxPrice !== undefined && v.minPrice > v.maxPrice) {
    ctx.addIssue({ code: "custom", message: "minPrice must not exceed maxPrice", path: ["minPrice"] });
  }
}

export const listProductsInput = z.strictObject(browseFilters).superRefine(checkPriceRange).prefault({});
export const searchProductsInput = z.strictObject({ query: singleLineText().trim().min(1).max(100), ...browseFilters }).superRefine(checkPriceRange);
export const adminListProductsInput = z
  .strictObject({
    ...browseFilters,
    query: singleLineText().trim().min(1).max(100).optional(),
    status: z.enum(["active", "hidden", "deleted"]).optional(),
  })
  .superRefine(checkPriceRange)
  .prefault({});
export type BrowseFilter = z.infer<typeof adminListProductsInput>;

export const productIdInput = z.strictObject({ productId: idSchema });

export const createProductInput = z.strictObject({
  name: singleLineText().trim().min(1).max(200),
  category: categorySchema,
  price: priceSchema,
  description: multilineText().max(5000).default(""),
  initialStock: stockQuantitySchema.default(0),
  lowStockThreshold: z.number().int().min(0).max(1_000_000).default(10),
  status: productStatusSchema.default("active"),
});
export type CreateProductInput = z.infer<typeof createProductInput>;

export const updateProductInput = z
  .strictObject({
    productId: idSchema,
    name: singleLineText().trim().min(1).max(200).optional(),
    category: categorySchema.optional(),
    price: priceSchema.optional(),
    description: multilineText().max(5000).optional(),
  })
  .refine((v) => v.name !== undefined || v.category !== undefined || v.price !== undefined || v.description !== undefined, "nothing to update");

export const setProductStatusInput = z.strictObject({ productId: idSchema, status: productStatusSchema });

export const inboundInput = z.strictObject({
  productId: idSchema,
  quantity: z.number().int().min(1).max(1_000_000),
  reason: singleLineText().trim().max(200).optional(),
});
export const outboundInput = inboundInput;
export const adjustInput = z.strictObject({
  productId: idSchema,
  /** Signed change, e.g. -3 after a stock count found three fewer. */
  change: z
    .number()
    .int()
    .min(-1_000_000)
    .max(1_000_000)
    .refine((n) => n !== 0, "a change cannot be zero"),
  reason: singleLineText().trim().min(1).max(200),
});
export const setThresholdInput = z.strictObject({ productId: idSchema, threshold: z.number().int().min(0).max(1_000_000) });
export const movementsInput = z.strictObject({ productId: idSchema, cursor: cursorSchema, limit: pageLimitSchema });
export const lowStockInput = z.strictObject({ limit: pageLimitSchema }).prefault({});
export const restockSignupInput = z.strictObject({ productId: idSchema, channel: z.enum(["email", "sms"]).default("email") });

export interface Product {
  id: number;
  name: string;
  category: string;
  price: number;
  description: string;
  status: "active" | "hidden" | "deleted";
  stock: number;
  inStock: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface StockLevel {
  productId: number;
  stock: number;
  inStock: boolean;
  lowStockThreshold: number;
  updatedAt: Date;
}

export interface StockLine {
  productId: number;
  quantity: number;
}

export interface InsufficientItem {
  productId: number;
  productName: string;
  requestedQuantity: number;
  availableStock: number;
}
