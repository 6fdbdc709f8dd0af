/** The storefront's bundle entry (index.html). */
import { mountApp } from "../shared/app.tsx";
import { StorefrontApp } from "./app.tsx";

mountApp(<StorefrontApp />);
