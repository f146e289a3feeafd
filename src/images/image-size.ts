/** An image's shape as the model sees it: NHWC without the N. */
export interface ImageSize {
  height: number;
  width: number;
  channels: number;
}
