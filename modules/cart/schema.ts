import { z } from "zod";
import { idSchema } from "../kernel/schemas.ts";

/** Bounds a real shop sets: a line holds at most 99 units, a cart at most 50 lines. */
export const MAX_LINE_QUANTITY = 99;
export const MAX_CART_LINES = 50;

const quantitySchema = z.number().int().min(1).max(MAX_LINE_QUANTITY);

export const addItemInput = z.strictObject({ productId: idSchema, quantity: quantitySchema });
export const setQuantityInput = z.strictObject({ productId: idSchema, quantity: quantitySchema });
export const removeItemInput = z.strictObject({ productId: idSchema });

export interface CartLine {
  productId: number;
  name: string;
  unitPrice: number;
  quantity: number;
  lineAmount: number;
  stock: number;
  /** False when the product was hidden or the stock no longer covers the quantity. */
  available: boolean;
  addedAt: Date;
}

export interface Cart {
  items: CartLine[];
  itemCount: number;
  totalQuantity: number;
  totalAmount: number;
  /** True when every line can be ordered as it stands. */
  orderable: boolean;
}
